"""Reads for notifications: webhook endpoints, and the notification and delivery logs
(cursor-paged newest first, with what each row is shown with)."""

from members.errors import NotFound
from members.selectors import keyset_page
from notifications.models import Delivery, Notification, WebhookEndpoint


def webhook_endpoint_get(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(
            f"No webhook endpoint {endpoint_id}",
            code="WEBHOOK_NOT_FOUND",
            details={"id": endpoint_id},
        )
    return endpoint


def webhook_endpoints_list() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.order_by("id"))


def notifications_page(
    *,
    event: str | None = None,
    uid: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[Notification], int | None]:
    """Newest first, with their deliveries; returns (rows, last id if there are more)."""
    rows = Notification.objects.select_related("member").prefetch_related("deliveries")
    if event:
        rows = rows.filter(event=event)
    if uid:
        rows = rows.filter(member__uid=uid)
    return keyset_page(rows, before=before_id, limit=limit)


def deliveries_page(
    *,
    status: str | None = None,
    event: str | None = None,
    endpoint_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[Delivery], int | None]:
    """Newest first, with their attempt logs; returns (rows, last id if there are more)."""
    rows = Delivery.objects.select_related("notification").prefetch_related(
        "attempt_log"
    )
    if status:
        rows = rows.filter(status=status)
    if event:
        rows = rows.filter(notification__event=event)
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    return keyset_page(rows, before=before_id, limit=limit)
