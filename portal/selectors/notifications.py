"""The notifications page: the webhook delivery log."""

from members import selectors
from notifications.models import Delivery


def deliveries_page(*, status="", before=None, limit=50):
    qs = Delivery.objects.select_related("notification", "endpoint")
    if status == "failed":
        qs = qs.filter(status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD])
    elif status:
        qs = qs.filter(status=status)
    return selectors.keyset_page(qs, before=before, limit=limit)
