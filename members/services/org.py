"""The organisation's settings row."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from members.errors import ValidationFailed
from members.models import OrgSettings
from members.selectors import org_settings_defaults
from members.services.audit import audit_record
from members.services.rows import insert_once
from orgportal import clock


def org_settings_locked() -> OrgSettings:
    """The settings row, locked for this transaction; saved with the defaults first
    if it does not exist yet."""
    row = OrgSettings.objects.select_for_update().filter(pk=1).first()
    if row is not None:
        return row
    insert_once(org_settings_defaults())  # None: created by someone else meanwhile
    return OrgSettings.objects.select_for_update().get(pk=1)


REMINDER_DAYS_MAX = 60
RENEW_LEAD_HOURS_MAX = 24 * 14
LOW_BALANCE_DAYS_MAX = 365
_EDITABLE = (
    "auto_renew_default",
    "reminder_days",
    "renew_lead_hours",
    "low_balance_days",
    "notify_emails",
)


def _settings_snapshot(row: OrgSettings) -> dict:
    return {name: getattr(row, name) for name in _EDITABLE}


def org_settings_update(*, actor: str, **fields) -> OrgSettings:
    """Change the organisation's settings; every field is checked before any is saved.

    reminder_days: whole days before term end, 1..60, stored distinct and descending.
    renew_lead_hours: 1..336. low_balance_days: 1..365. notify_emails: a list or a
    comma-separated string of addresses.
    """
    unknown = sorted(set(fields) - set(_EDITABLE))
    if unknown:
        raise ValidationFailed(
            f"Unknown setting {unknown[0]!r}",
            details={name: ["not a setting"] for name in unknown},
        )
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    if "auto_renew_default" in fields:
        value = fields["auto_renew_default"]
        if not isinstance(value, bool):
            errors["auto_renew_default"] = ["must be true or false"]
        clean["auto_renew_default"] = value
    if "reminder_days" in fields:
        days = fields["reminder_days"]
        if not isinstance(days, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in days
        ):
            errors["reminder_days"] = ["a list of whole numbers of days"]
        elif any(not 1 <= d <= REMINDER_DAYS_MAX for d in days):
            errors["reminder_days"] = [f"each between 1 and {REMINDER_DAYS_MAX} days"]
        else:
            clean["reminder_days"] = sorted(set(days), reverse=True)
    for name, top in (
        ("renew_lead_hours", RENEW_LEAD_HOURS_MAX),
        ("low_balance_days", LOW_BALANCE_DAYS_MAX),
    ):
        if name in fields:
            value = fields[name]
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 1 <= value <= top
            ):
                errors[name] = [f"a whole number from 1 to {top}"]
            else:
                clean[name] = value
    if "notify_emails" in fields:
        raw = fields["notify_emails"]
        if isinstance(raw, str):
            raw = raw.replace(";", ",").replace("\n", ",").split(",")
        addresses = [a.strip() for a in raw if isinstance(a, str) and a.strip()]
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except DjangoValidationError:
                bad.append(address)
        if bad:
            errors["notify_emails"] = [f"not an e-mail address: {', '.join(bad)}"]
        elif len(",".join(addresses)) > 2000:
            errors["notify_emails"] = ["at most 2,000 characters in all"]
        else:
            clean["notify_emails"] = ",".join(dict.fromkeys(addresses))
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{field}: {messages[0]}", details=errors)
    with transaction.atomic():
        row = org_settings_locked()
        before = _settings_snapshot(row)
        for name, value in clean.items():
            setattr(row, name, value)
        after = _settings_snapshot(row)
        if after != before:
            row.updated_at = clock.now()
            row.save()
            changed = [name for name in _EDITABLE if before[name] != after[name]]
            audit_record(
                actor=actor,
                action="org.settings",
                obj=("org_settings", row.pk),
                before={name: before[name] for name in changed},
                after={name: after[name] for name in changed},
            )
    return row
