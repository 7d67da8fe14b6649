"""Thin Celery wrappers around brokerage services. Safe to run twice, at once too: a
refresh is claimed before Aries is called."""

from celery import shared_task

from brokerage import services


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def brokerage_refresh_due() -> dict:
    """Beat: refresh every link whose access token expires within
    BROKERAGE_REFRESH_LEAD_SECONDS, and drop deleted members' links. Stops after four
    minutes; what is left is still due on the next run."""
    return services.brokerage_refresh_due(budget_s=240)


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def brokerage_refresh(link_id: int, force: bool = False) -> str:
    """Refresh one link now (`force`: even when it is not due yet)."""
    return services.brokerage_refresh(link_id=link_id, force=force).value
