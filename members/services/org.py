"""The organisation's settings row."""

from django.conf import settings
from django.db import IntegrityError, transaction

from members.models import OrgSettings
from orgportal import clock


def org_settings() -> OrgSettings:
    """The one settings row, created with the environment's defaults on first use."""
    found = OrgSettings.objects.filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return OrgSettings.objects.create(
                pk=1,
                auto_renew_default=settings.ORG_AUTO_RENEW_DEFAULT,
                reminder_days=list(settings.RENEWAL_REMINDER_DAYS),
                renew_lead_hours=settings.AUTO_RENEW_LEAD_HOURS,
                low_balance_days=settings.LOW_BALANCE_DAYS,
                notify_emails=",".join(settings.NOTIFY_EMAILS),
                updated_at=clock.now(),
            )
    except IntegrityError:  # created by someone else meanwhile
        return OrgSettings.objects.get(pk=1)
