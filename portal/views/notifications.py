"""Notifications, the delivery log with redelivery, and webhook endpoints."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from members import inputs
from members.errors import ServiceError
from notifications.models import Delivery, Notification, WebhookEndpoint
from notifications.services.deliveries import delivery_redeliver as redeliver
from notifications.services.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from portal.forms import WebhookEndpointForm
from portal.selectors import notifications as reads
from portal.views.common import (
    actor,
    confirm_page,
    confirm_then_act,
    form_page,
    no_store,
    not_found,
    role_required,
    with_row,
)

DELIVERY_FILTERS = [
    ("", "All"),
    ("failed", "Failed or gave up"),
    ("pending", "Pending"),
    ("delivered", "Delivered"),
    ("dead", "Gave up"),
]


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= inputs.ID_MAX else None


@role_required("viewer")
@require_GET
def notification_list(request):
    status = request.GET.get("status", "")
    if status not in dict(DELIVERY_FILTERS):
        status = ""
    deliveries, next_before = reads.deliveries_page(
        status=status, before=_int(request.GET.get("before"))
    )
    return render(
        request,
        "portal/notifications/list.html",
        {
            "deliveries": deliveries,
            "next_before": next_before,
            "status": status,
            "filters": DELIVERY_FILTERS,
            "notifications": list(
                Notification.objects.select_related("member").order_by("-id")[:20]
            ),
            "endpoints": list(WebhookEndpoint.objects.order_by("id")),
        },
    )


@role_required("viewer")
@require_GET
def delivery_detail(request, delivery_id: int):
    delivery = (
        Delivery.objects.select_related("notification", "endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return not_found(request, f"There is no delivery #{delivery_id}.")
    return render(
        request,
        "portal/notifications/delivery.html",
        {"delivery": delivery, "attempts": list(delivery.attempt_log.all()[:50])},
    )


@role_required("admin")
@require_POST
def delivery_redeliver(request, delivery_id: int):
    try:
        delivery = redeliver(delivery_id=delivery_id, actor=actor(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Redelivered #{delivery.pk}: now {delivery.get_status_display()}"
            + (
                f" (HTTP {delivery.last_status_code})"
                if delivery.last_status_code
                else ""
            )
            + ".",
        )
    return redirect("portal:delivery", delivery_id=delivery_id)


# --- webhook endpoints ------------------------------------------------------------


def _secret_page(request, endpoint, secret, created: bool):
    return no_store(
        render(
            request,
            "portal/notifications/secret_shown.html",
            {"endpoint": endpoint, "secret": secret, "created": created},
        )
    )


def _endpoint_form(request, endpoint: WebhookEndpoint | None, save, *, initial: dict):
    """The page adding (`endpoint` None) or changing an endpoint, its form filled from
    `initial`; `save(data)` answers a valid submit."""
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    return form_page(
        request,
        form,
        save,
        "portal/notifications/webhook_form.html",
        {"endpoint": endpoint},
    )


@role_required("owner")
@require_http_methods(["GET", "POST"])
def webhook_new(request):
    def save(data):
        endpoint, secret = webhook_endpoint_create(
            url=data["url"],
            description=data["description"],
            events=data["events"],
            actor=actor(request),
        )
        return _secret_page(request, endpoint, secret, created=True)

    return _endpoint_form(request, None, save, initial={"active": True})


@role_required("owner")
@require_http_methods(["GET", "POST"])
@with_row(WebhookEndpoint, noun="webhook endpoint")
def webhook_edit(request, endpoint_id: int, endpoint: WebhookEndpoint):
    def save(data):
        webhook_endpoint_update(
            endpoint_id=endpoint_id,
            actor=actor(request),
            url=data["url"],
            description=data["description"],
            events=data["events"],
            active=data["active"],
        )
        messages.success(request, f"Saved the webhook endpoint {data['url']}.")
        return redirect("portal:notifications")

    fields = ("url", "description", "events", "active")
    initial = {name: getattr(endpoint, name) for name in fields}
    return _endpoint_form(request, endpoint, save, initial=initial)


@role_required("owner")
@require_http_methods(["GET", "POST"])
@with_row(WebhookEndpoint, noun="webhook endpoint")
def webhook_rotate(request, endpoint_id: int, endpoint: WebhookEndpoint):
    if request.method == "POST":
        try:
            endpoint, secret = webhook_endpoint_rotate_secret(
                endpoint_id=endpoint_id, actor=actor(request)
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("portal:notifications")
        return _secret_page(request, endpoint, secret, created=False)
    return confirm_page(
        request,
        title=f"Rotate the signing secret of {endpoint.url}",
        message="A new secret is shown once and signs every send from now on; the "
        "receiver must check signatures with the new one.",
        button="Rotate the secret",
        back_url=reverse("portal:notifications"),
    )


@role_required("owner")
@require_http_methods(["GET", "POST"])
@with_row(WebhookEndpoint, noun="webhook endpoint")
def webhook_delete(request, endpoint_id: int, endpoint: WebhookEndpoint):
    return confirm_then_act(
        request,
        act=lambda: webhook_endpoint_delete(
            endpoint_id=endpoint_id, actor=actor(request)
        ),
        done=f"Removed {endpoint.url} (an endpoint with a delivery log is "
        "deactivated and its log kept).",
        back_url=reverse("portal:notifications"),
        title=f"Remove the webhook endpoint {endpoint.url}",
        message="Nothing more is sent to it and pending retries stop. An endpoint "
        "with a delivery log is deactivated, keeping the log.",
        button="Remove the endpoint",
    )
