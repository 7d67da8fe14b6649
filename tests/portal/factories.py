"""Rows made straight through the ORM, for tests about reading them (lists, query
counts, permissions). Tests about money go through the services and the sandbox."""

import datetime as dt

from members.models import GatewayKey, Member, Plan, ServiceToken, UsageDay
from notifications.models import Delivery, Notification, WebhookEndpoint
from orgportal import clock


def plan(name: str = "pro", price: int = 1500, **fields) -> Plan:
    found = Plan.objects.filter(name=name).first()
    if found:
        return found
    return Plan.objects.create(
        name=name,
        price=price,
        tier=fields.pop("tier", "pro"),
        rate_limit=25,
        quota=50_000,
        websocket_symbols=2,
        websocket_connections=1,
        synced_at=clock.now(),
        **fields,
    )


def members(count: int, *, prefix: str = "m", on: Plan | None = None) -> list[Member]:
    on = on or plan()
    now = clock.now()
    created = Member.objects.bulk_create(
        [
            Member(
                uid=f"{prefix}{i:04d}",
                full_name=f"Member {i}",
                email=f"{prefix}{i}@example.com",
                plan=on,
                status=Member.Status.ACTIVE,
                term_start=now,
                term_end=now + dt.timedelta(days=30 - i % 30),
                upstream_created_at=now,
                rate_limit=25,
                quota=50_000,
                websocket_symbols=2,
                websocket_connections=1,
                upstream_key_encrypted="x",
                created_at=now,
                updated_at=now,
            )
            for i in range(count)
        ]
    )
    return created


def usage(member: Member, days: int = 10) -> None:
    today = clock.now().date()
    UsageDay.objects.bulk_create(
        [
            UsageDay(member=member, day=today - dt.timedelta(days=d), requests=100 + d)
            for d in range(days)
        ]
    )


def gateway_key(member: Member, n: int = 0) -> GatewayKey:
    return GatewayKey.objects.create(
        member=member,
        key_hash=f"{member.pk:032d}{n:032d}",
        prefix="eyJhbGciOi",
        last4=f"{n:04d}",
        created_at=clock.now(),
    )


def service_token(name: str = "backend") -> ServiceToken:
    return ServiceToken.objects.create(
        name=name,
        token_hash=f"{name:0>64}"[:64],
        prefix="ops_abcd",
        created_at=clock.now(),
    )


def webhook_delivery(
    status: str = Delivery.Status.DEAD,
) -> tuple[WebhookEndpoint, Delivery]:
    now = clock.now()
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/orgportal",
        secret_encrypted="x",
        created_at=now,
        updated_at=now,
    )
    note = Notification.objects.create(
        event=Notification.Event.LOW_BALANCE,
        dedupe_key=f"low-{now.timestamp()}",
        payload={},
        created_at=now,
    )
    delivery = Delivery.objects.create(
        notification=note,
        channel=Delivery.Channel.WEBHOOK,
        endpoint=endpoint,
        destination=endpoint.url,
        status=status,
        attempts=12,
        last_error="connection refused",
        created_at=now,
    )
    return endpoint, delivery
