"""Portal forms: they parse and check the shape of input; the services check the rules
and their errors are shown next to the same fields."""

from functools import partial

from django import forms

from billing import pricing
from billing.models import LedgerTransaction
from members import inputs, scopes
from members.models import Member, Plan
from notifications.models import Notification
from portal import display

STATUS_CHOICES = [("", "Any status")] + [
    (value, display.words(value)) for value in Member.Status.values
]
TRI_STATE = [("", "Follow upstream"), ("yes", "Allowed"), ("no", "Blocked")]
AUTO_RENEW_CHOICES = [
    ("", "Organisation default"),
    ("yes", "Renew automatically"),
    ("no", "Do not renew"),
]
MEMBER_SORTS = [
    ("uid", "uid A→Z"),
    ("-uid", "uid Z→A"),
    ("newest", "newest first"),
    ("oldest", "oldest first"),
    ("term_end", "term ends soonest"),
    ("-term_end", "term ends latest"),
]


class FilterText(forms.CharField):
    """Free text from a query string: NUL and other control characters refused."""

    default_validators = [inputs.refuse_control_chars]


def _count(**kwargs) -> forms.IntegerField:
    """A number stored in an integer column: bounded by the column's range."""
    return forms.IntegerField(min_value=0, max_value=inputs.INT_FIELD_MAX, **kwargs)


def _row_id(**kwargs) -> forms.IntegerField:
    """A keyset cursor: a primary key, bounded by its column's range."""
    return forms.IntegerField(
        required=False, min_value=1, max_value=inputs.ID_MAX, **kwargs
    )


def _date(**kwargs) -> forms.DateField:
    # Years 1970..9000: the filters add a day to a date, which must stay in range.
    return forms.DateField(validators=[inputs.refuse_far_dates], **kwargs)


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _plan_choices(*, blank: str | None = None, only_available: bool = True):
    plans = Plan.objects.all()
    if only_available:
        plans = plans.filter(available=True)
    choices = [
        (
            p.name,
            f"{p.name} — {display.amount(p.price)} credits / 30 days"
            + (" (custom)" if p.is_custom else ""),
        )
        for p in plans
    ]
    return ([("", blank)] if blank is not None else []) + choices


class MemberFilterForm(forms.Form):
    q = FilterText(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "uid, name or e-mail"}
        ),
    )
    plan = forms.ChoiceField(
        label="Plan",
        required=False,
        choices=partial(_plan_choices, blank="Any plan", only_available=False),
    )
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    sort = forms.ChoiceField(label="Sort", required=False, choices=MEMBER_SORTS)
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)


class MemberCreateForm(forms.Form):
    uid = forms.CharField(
        label="uid",
        max_length=100,
        help_text="The member's id in your product; letters, digits, . _ - @",
    )
    full_name = forms.CharField(label="Full name", max_length=200, required=False)
    plan = forms.ChoiceField(
        label="Plan", choices=partial(_plan_choices, blank="Choose a plan")
    )
    auto_renew = forms.ChoiceField(
        label="Auto-renew", required=False, choices=AUTO_RENEW_CHOICES
    )

    def clean_uid(self):
        uid = self.cleaned_data["uid"]
        if uid != uid.strip() or not uid:
            raise forms.ValidationError("No spaces at the start or end.")
        if "/" in uid or any(ord(c) < 32 for c in uid):
            raise forms.ValidationError("No slashes or control characters.")
        return uid

    def auto_renew_value(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.cleaned_data.get("auto_renew"))


class PlanChangeForm(forms.Form):
    plan = forms.ChoiceField(label="New plan")

    def __init__(self, *args, current: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [
            c for c in _plan_choices(blank="Choose a plan") if c[0] != current
        ]


class ConfirmForm(forms.Form):
    """The amount (hundredths; + charges, − credits) the user saw and confirmed."""

    confirm_amount = forms.IntegerField()


class MemberSettingsForm(forms.Form):
    auto_renew = forms.BooleanField(
        label="Renew automatically before the term ends", required=False
    )
    rate_limit = _count(label="Rate limit (requests / minute)", required=False)
    quota = _count(label="Monthly quota (0 = unlimited)", required=False)
    websocket_symbols = _count(label="WebSocket subscriptions", required=False)
    websocket_connections = _count(label="WebSocket connections", required=False)
    newsfeed = forms.ChoiceField(label="Newsfeed", required=False, choices=TRI_STATE)

    OVERRIDES = ("rate_limit", "quota", "websocket_symbols", "websocket_connections")

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member
        for name in self.OVERRIDES:
            upstream = getattr(member, name)
            self.fields[name].help_text = (
                f"upstream: {upstream:,}{' (unlimited)' if upstream == 0 else ''}. "
                "Empty follows upstream; a larger value has no effect (never more than "
                "upstream)."
            )

    @classmethod
    def initial_for(cls, member: Member) -> dict:
        return {
            "auto_renew": member.auto_renew,
            **{name: getattr(member, f"override_{name}") for name in cls.OVERRIDES},
            "newsfeed": {True: "yes", False: "no"}.get(member.override_newsfeed, ""),
        }

    def overrides(self) -> dict:
        data = self.cleaned_data
        out = {name: data.get(name) for name in self.OVERRIDES}
        out["newsfeed"] = {"yes": True, "no": False}.get(data.get("newsfeed"))
        return out


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "All kinds")]
        + [(value, display.words(value)) for value in LedgerTransaction.Kind.values],
    )
    uid = FilterText(label="Member uid", required=False, max_length=100)
    since = _date(
        label="From (UTC)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = _date(
        label="Until (UTC, inclusive)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    before = _row_id(widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "Must be on or after the start date.")
        return data


class CreditsForm(forms.Form):
    credits = forms.IntegerField(
        label="Credits",
        min_value=1,
        max_value=pricing.MAX_PURCHASE_CREDITS,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": 1}),
    )


class OrgSettingsForm(forms.Form):
    auto_renew_default = forms.BooleanField(
        label="New members renew automatically", required=False
    )
    reminder_days = forms.CharField(
        label="Reminder days",
        required=False,
        max_length=100,
        help_text="Days before a term ends to send reminders, comma separated, e.g. 7, 3, 1",
    )
    renew_lead_hours = forms.IntegerField(
        label="Auto-renew lead time (hours)",
        min_value=1,
        max_value=inputs.INT_FIELD_MAX,
    )
    low_balance_days = forms.IntegerField(
        label="Low-balance window (days)",
        min_value=1,
        max_value=inputs.INT_FIELD_MAX,
        help_text="Alert when the wallet cannot pay the renewals due this soon",
    )
    notify_emails = forms.CharField(
        label="Notification e-mails",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Comma separated",
    )

    def clean_reminder_days(self):
        raw = self.cleaned_data["reminder_days"]
        parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise forms.ValidationError("Whole numbers of days, comma separated.")
        return [int(p) for p in parts]


class ServiceTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What will use it, e.g. billing-backend",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(s, f"{s}: {scopes.SCOPE_HELP[s]}") for s in scopes.ALL_SCOPES],
        initial=list(scopes.DEFAULT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
        help_text="Only what the backend needs; admin can pay credits out and mint them",
        error_messages={"required": "Choose at least one scope."},
    )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    description = forms.CharField(label="Description", required=False, max_length=200)
    events = forms.MultipleChoiceField(
        label="Events",
        required=False,
        choices=Notification.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event",
    )
    active = forms.BooleanField(label="Active", required=False, initial=True)


class AuditFilterForm(forms.Form):
    actor = FilterText(label="Actor", required=False, max_length=150)
    action = FilterText(
        label="Action", required=False, max_length=60, help_text="prefix, e.g. member."
    )
    object_id = FilterText(label="Object id", required=False, max_length=120)
    before = _row_id(widget=forms.HiddenInput)
