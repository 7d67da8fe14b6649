"""What a hostile request must get back, and what a refused one must leave as it was."""

import json

from billing.models import LedgerTransaction
from members.models import AuditEvent, Member, Operation
from tests.rest import BASE


def counts() -> tuple:
    """How many members, operations, ledger transactions and audit events there are."""
    return (
        Member.objects.count(),
        Operation.objects.count(),
        LedgerTransaction.objects.count(),
        AuditEvent.objects.count(),
    )


def state() -> tuple:
    """What a refused request must leave as it was."""
    return (
        *counts(),
        list(
            Member.objects.order_by("pk").values_list(
                "uid",
                "plan_id",
                "status",
                "auto_renew",
                "override_rate_limit",
                "override_quota",
                "override_websocket_symbols",
                "override_websocket_connections",
                "override_newsfeed",
            )
        ),
    )


def assert_api_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert body["error"] and isinstance(body["details"], dict)
    return body


def api_post(api, path: str, body) -> object:
    raw = body if isinstance(body, str) else json.dumps(body)
    return api.post(BASE + path, data=raw, content_type="application/json")
