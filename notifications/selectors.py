"""Reads for notifications: webhook endpoints, and the notification and delivery logs
(cursor-paged newest first, with what each row is shown with)."""

from members.selectors import keyset_page, narrowed, row_or_not_found
from notifications.models import Delivery, Notification, WebhookEndpoint


def webhook_endpoint_get(endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """The endpoint; with `lock`, its row locked until the caller's transaction ends."""
    rows = (
        WebhookEndpoint.objects.select_for_update() if lock else WebhookEndpoint.objects
    )
    return row_or_not_found(
        rows, endpoint_id, noun="webhook endpoint", code="WEBHOOK_NOT_FOUND"
    )


def delivery_get(delivery_id: int) -> Delivery:
    return row_or_not_found(
        Delivery.objects.select_related("endpoint"),
        delivery_id,
        noun="delivery",
        code="DELIVERY_NOT_FOUND",
    )


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
    rows = narrowed(rows, event=event, member__uid=uid)
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
    rows = narrowed(
        rows, status=status, notification__event=event, endpoint_id=endpoint_id
    )
    return keyset_page(rows, before=before_id, limit=limit)
