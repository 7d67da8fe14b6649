"""The portal's brokerage link form. The same rules as the API (brokerage.rules); the
token inputs never render their value back, so no page ever carries a token."""

from django import forms

from brokerage import rules


class _TokenInput(forms.PasswordInput):
    def __init__(self):
        super().__init__(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"},
        )


class BrokerageLinkForm(forms.Form):
    access_token = forms.CharField(
        widget=_TokenInput(),
        strip=True,
        help_text="The Aries access token (a JWT). Stored encrypted, never shown again.",
    )
    refresh_token = forms.CharField(
        widget=_TokenInput(),
        strip=True,
        help_text="The Aries refresh token. Stored encrypted, never shown again.",
    )
    account_ids = forms.CharField(
        label="Account ids",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="The accounts the member may stream, separated by commas, spaces "
        "or new lines.",
    )

    def clean_access_token(self) -> str:
        return _passing(self.cleaned_data["access_token"], rules.access_token_problem)

    def clean_refresh_token(self) -> str:
        return _passing(self.cleaned_data["refresh_token"], rules.token_problem)

    def clean_account_ids(self) -> list[str]:
        value = rules.account_ids_parse(self.cleaned_data["account_ids"])
        return _passing(value, rules.account_ids_problem)


def _passing(value, problem):
    """`value`, once the brokerage.rules check `problem` finds nothing wrong with it."""
    message = problem(value)
    if message:
        raise forms.ValidationError(message)
    return value
