"""The notifications' move from `members` to `notifications` keeps every row: a database
at the schema of before the move (members 0011, no notifications) is migrated to the
latest, and what was written through the models of then is read back through
`notifications.models`."""

import pytest

from notifications.models import Delivery, Notification, WebhookEndpoint
from notifications.services.notify import notify
from tests import migrations
from tests.times import T0

MOVE = ("notifications", "0001_initial")
# These tests commit (tests.migrations); `old_apps` leaves the database at the latest.
pytestmark = pytest.mark.django_db(transaction=True)


def write_notifications(apps) -> dict:
    """A member event delivered by email and to one endpoint, with an attempt logged for
    each, and an admin log entry about the endpoint."""
    Notification_, Endpoint, Delivery_, Attempt = migrations.members_models(
        apps, "Notification", "WebhookEndpoint", "Delivery", "DeliveryAttempt"
    )
    member = migrations.historical_member(apps)
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.com/in",
        secret_encrypted="x",
        events=["member.expired"],
        created_at=T0,
        updated_at=T0,
    )
    notification = Notification_.objects.create(
        event="member.expired",
        dedupe_key="expired:m1",
        member=member,
        payload={"member": {"uid": "m1"}},
        created_at=T0,
    )
    by_email = Delivery_.objects.create(
        notification=notification,
        channel="email",
        destination="ops@example.com",
        status="delivered",
        attempts=1,
        delivered_at=T0,
        created_at=T0,
    )
    by_hook = Delivery_.objects.create(
        notification=notification,
        channel="webhook",
        endpoint=endpoint,
        destination=endpoint.url,
        status="failed",
        attempts=1,
        next_attempt_at=T0,
        last_status_code=500,
        created_at=T0,
    )
    Attempt.objects.create(delivery=by_email, number=1, ok=True, started_at=T0)
    Attempt.objects.create(
        delivery=by_hook, number=1, ok=False, status_code=500, started_at=T0
    )
    migrations.log_admin_change(
        apps, "webhookendpoint", endpoint, endpoint.url, "notifications"
    )
    return {
        "notification": notification.pk,
        "email": by_email.pk,
        "hook": by_hook.pk,
        "endpoint": endpoint.pk,
    }


def test_notifications_written_before_the_move_read_back_through_the_new_app(
    old_apps,
):
    # given: notifications written before the move
    ids = write_notifications(old_apps)

    # when: the database is migrated to the latest
    migrations.migrate_to_latest()

    # then: the same rows, through the notifications app's models
    notification = Notification.objects.get(pk=ids["notification"])
    assert (notification.event, notification.member.uid) == ("member.expired", "m1")
    assert sorted(notification.deliveries.values_list("channel", "status")) == [
        ("email", "delivered"),
        ("webhook", "failed"),
    ]
    hook = Delivery.objects.get(pk=ids["hook"])
    assert hook.endpoint_id == ids["endpoint"]
    assert hook.endpoint.deliveries.get() == hook
    assert [a.status_code for a in hook.attempt_log.all()] == [500]
    assert Delivery.objects.get(pk=ids["email"]).attempt_log.get().ok
    # and the admin history and permissions follow the models to the new app
    endpoint = WebhookEndpoint.objects.get(pk=ids["endpoint"])
    migrations.assert_admin_history_moved("webhookendpoint", "notifications", endpoint)
    # and the service records into the same tables (a new key, a new row)
    assert (
        notify(event="member.expired", dedupe_key="expired:m1", data={}, member=None)
        is None
    )
    assert notify(event="org.low_balance", dedupe_key="low:1", data={}) is not None
    assert Notification.objects.count() == 2
