"""Members, plans, keys and operations against the upstream. The credit ledger's
models are in `billing.models`.

Money is integers in hundredths of a credit everywhere (fields named `amount`, `price`,
`hold`).
"""

import datetime as dt

from django.db import models
from django.db.models import Case, F, Q, Value, When


def protected_fk(to, related_name: str, *, null: bool = False, blank: bool = False):
    """A link whose target cannot be deleted while rows point at it (PROTECT): what the
    history names stays."""
    return models.ForeignKey(
        to, on_delete=models.PROTECT, related_name=related_name, null=null, blank=blank
    )


class NewestFirst(models.Model):
    """Rows listed newest first: by their `created_at`, then by id."""

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class Plan(models.Model):
    class Tier(models.TextChoices):
        PRO = "pro"
        ULTRA = "ultra"
        MEGA = "mega"

    name = models.CharField(max_length=100, unique=True)
    price = models.BigIntegerField(help_text="hundredths of a credit per 30-day term")
    tier = models.CharField(max_length=10, choices=Tier.choices)
    is_custom = models.BooleanField(default=False)
    rate_limit = models.PositiveIntegerField()
    quota = models.PositiveIntegerField(
        help_text="monthly REST requests; 0 = unlimited"
    )
    websocket_symbols = models.PositiveIntegerField()
    websocket_connections = models.PositiveIntegerField()
    available = models.BooleanField(
        default=True, help_text="listed by upstream at last sync"
    )
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["is_custom", "price", "name"]

    def __str__(self) -> str:
        return self.name


class MemberQuerySet(models.QuerySet):
    def status_at(self, status: str, at: dt.datetime) -> "MemberQuerySet":
        """Members whose status at `at` is `status`: an active row whose term has
        ended counts as expired (members.status.status_at is the rule in Python)."""
        ended = Q(status=Member.Status.ACTIVE, term_end__lte=at)
        if status == Member.Status.ACTIVE:
            return self.filter(status=status).exclude(ended)
        if status == Member.Status.EXPIRED:
            return self.filter(Q(status=status) | ended)
        return self.filter(status=status)

    def with_status_at(self, at: dt.datetime) -> "MemberQuerySet":
        """Each member annotated with `shown_status`, its status at `at`."""
        return self.annotate(
            shown_status=Case(
                When(
                    status=Member.Status.ACTIVE,
                    term_end__lte=at,
                    then=Value(Member.Status.EXPIRED.value),
                ),
                default=F("status"),
                output_field=models.CharField(),
            )
        )


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        CANCELLED = "cancelled"
        EXPIRED = "expired"
        DELETED = "deleted"

    uid = models.CharField(max_length=100)
    full_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    plan = protected_fk(Plan, "members")
    status = models.CharField(max_length=10, choices=Status.choices)
    term_start = models.DateTimeField()
    term_end = models.DateTimeField(help_text="upstream plan_end_at")
    upstream_created_at = models.DateTimeField()
    # Limits as upstream reports them for this member.
    rate_limit = models.PositiveIntegerField()
    quota = models.PositiveIntegerField()
    websocket_symbols = models.PositiveIntegerField()
    websocket_connections = models.PositiveIntegerField()
    newsfeed = models.BooleanField(default=True)
    quota_exceeded = models.BooleanField(default=False)
    # Stricter per-member limits set by an admin; null = follow upstream.
    override_rate_limit = models.PositiveIntegerField(null=True, blank=True)
    override_quota = models.PositiveIntegerField(null=True, blank=True)
    override_websocket_symbols = models.PositiveIntegerField(null=True, blank=True)
    override_websocket_connections = models.PositiveIntegerField(null=True, blank=True)
    override_newsfeed = models.BooleanField(null=True, blank=True)
    upstream_key_encrypted = models.TextField(help_text="Fernet token; never logged")
    auto_renew = models.BooleanField(default=True)
    # When the next renewal reminder of this term is due (null: none left). Kept so the
    # scheduler's scan reads only members with a reminder due, not every one near its end.
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        ordering = ["upstream_created_at", "id"]
        constraints = [
            # A deleted member keeps its history; its uid may be used again.
            models.UniqueConstraint(
                fields=["uid"],
                condition=~Q(status="deleted"),
                name="member_uid_live_unique",
            )
        ]
        indexes = [
            models.Index(fields=["status", "term_end"]),
            models.Index(fields=["uid"]),
            models.Index(
                fields=["next_reminder_at"],
                condition=Q(next_reminder_at__isnull=False),
                name="member_reminder_due",
            ),
        ]

    def __str__(self) -> str:
        return self.uid


class MemberTerm(models.Model):
    """A paid period: the plan, price and period it was bought at. Proration uses what
    was paid here, never today's catalogue."""

    member = protected_fk(Member, "terms")
    plan_name = models.CharField(max_length=100)
    price = models.BigIntegerField(
        help_text="hundredths of a credit paid for a full term"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="set when a change or cancel ends it early"
    )
    operation = protected_fk("Operation", "terms", null=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["start", "id"]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.plan_name} {self.start:%Y-%m-%d}–{self.end:%Y-%m-%d}"

    @property
    def effective_end(self):
        return min(self.end, self.closed_at) if self.closed_at else self.end


class GatewayKey(NewestFirst):
    member = protected_fk(Member, "gateway_keys")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex")
    prefix = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last4}"


class ServiceToken(NewestFirst):
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex")
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # members.scopes names them; a token without any (made by hand) can call nothing.
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="read, members, credits, admin (admin implies all)",
    )

    def __str__(self) -> str:
        return self.name

    # DRF's IsAuthenticated asks the request's user this.
    is_authenticated = True


class Operation(NewestFirst):
    """A member mutation against the upstream, recorded before the call is made."""

    class Kind(models.TextChoices):
        CREATE = "create"
        CHANGE = "change"
        RENEW = "renew"
        CANCEL = "cancel"
        DELETE = "delete"

    class Status(models.TextChoices):
        PENDING = "pending", "pending (calling upstream)"
        UNKNOWN = "unknown", "outcome unknown (resolving)"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    IN_FLIGHT = (Status.PENDING, Status.UNKNOWN)

    kind = models.CharField(max_length=10, choices=Kind.choices)
    member_uid = models.CharField(max_length=100)
    member = protected_fk(Member, "operations", null=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    request = models.JSONField(help_text="what was asked of upstream")
    amount = models.BigIntegerField(
        help_text="hundredths of a credit: positive charges the wallet, negative credits it"
    )
    hold = models.BigIntegerField(
        default=0, help_text="hundredths reserved from the wallet while in flight"
    )
    expected = models.JSONField(
        default=dict, help_text="upstream state before the call"
    )
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=150)
    resolve_attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(help_text="the instant the charge was priced at")
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta(NewestFirst.Meta):
        constraints = [
            # One operation in flight per member: concurrent changes queue behind it.
            models.UniqueConstraint(
                fields=["member_uid"],
                condition=Q(status__in=["pending", "unknown"]),
                name="operation_one_in_flight_per_member",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.member_uid} ({self.status})"


class IdempotencyRecord(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    scope = models.CharField(
        max_length=150, help_text="who sent it: one namespace each"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices)
    claim = models.CharField(
        max_length=32,
        blank=True,
        help_text="the request holding the key; a takeover after the lease changes it",
    )
    lease_until = models.DateTimeField(
        null=True,
        help_text="until then no other request may take over a claim not yet bound "
        "to an operation",
    )
    response_status = models.PositiveSmallIntegerField(null=True)
    response_encrypted = models.TextField(
        blank=True, help_text="Fernet token of the whole JSON response; never logged"
    )
    issued_key_encrypted = models.TextField(
        blank=True,
        help_text="Fernet token of a gateway key the bound operation issued, so a "
        "replay after a lost response can still show it",
    )
    operation = models.ForeignKey(Operation, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.scope}/{self.key}"


class AuditEvent(NewestFirst):
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=120)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta(NewestFirst.Meta):
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class UsageDay(models.Model):
    """A member's gateway traffic on one UTC day, written by the gateways' metering."""

    member = protected_fk(Member, "usage_days")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    refused = models.JSONField(default=dict, help_text="refusal reason → count")
    upstream_ms_total = models.PositiveBigIntegerField(default=0)
    # Market data WebSockets: data frames and bytes delivered, connection time.
    ws_messages = models.PositiveBigIntegerField(default=0)
    ws_bytes = models.PositiveBigIntegerField(default=0)
    ws_connection_seconds = models.PositiveBigIntegerField(default=0)
    # Account streams (/v1/accounts/ws): events delivered, connection time.
    account_events = models.PositiveBigIntegerField(default=0)
    account_connection_seconds = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="usage_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.day}"


class OrgSettings(models.Model):
    """The organisation's own settings: one row (pk=1), created on first read with the
    defaults from the environment. Thresholds here drive the scheduled work."""

    auto_renew_default = models.BooleanField(default=True)
    reminder_days = models.JSONField(
        default=list, help_text="days before term end to remind, e.g. [7, 3, 1]"
    )
    renew_lead_hours = models.PositiveIntegerField(
        default=24, help_text="auto-renew this long before the term ends"
    )
    low_balance_days = models.PositiveIntegerField(
        default=7, help_text="alert when the wallet cannot cover renewals due this soon"
    )
    notify_emails = models.TextField(
        blank=True, help_text="comma-separated addresses for notification emails"
    )
    # The current low-balance episode: set when the alert goes out, cleared when the
    # wallet covers the forecast again, so one episode alerts once.
    low_balance_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "org settings"

    def __str__(self) -> str:
        return "organisation settings"

    @property
    def email_list(self) -> list[str]:
        return [a.strip() for a in self.notify_emails.split(",") if a.strip()]


class UsageMonth(models.Model):
    """A member's usage rolled up per calendar month (UTC) from UsageDay."""

    member = protected_fk(Member, "usage_months")
    month = models.DateField(help_text="first day of the month")
    requests = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    refused = models.PositiveBigIntegerField(default=0)
    upstream_ms_total = models.PositiveBigIntegerField(default=0)
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["month"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "month"], name="usage_month_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.month:%Y-%m}"
