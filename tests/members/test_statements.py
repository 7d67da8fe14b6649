"""How many SQL statements and transactions one member mutation costs through the REST
API, counted (not timed): each is a round trip to the database, and the wallet's row
lock is held only for the statements after the first wallet one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="counts PostgreSQL's round trips (SQLite keeps balances in code)",
    ),
]

# Statements per mutation (with an Idempotency-Key) at most, and the ones issued while
# the wallet's row is locked, counted from the first wallet statement to COMMIT.
BUDGET = {
    "create": (14, 2),
    "update": (12, 2),
    "cancel": (11, 2),
}


def _wallet_locked_statements(sqls: list[str]) -> list[int]:
    """Per transaction that touches the wallet: statements from its first wallet
    statement up to and including COMMIT."""
    counts, counting = [], None
    for sql in sqls:
        if counting is not None:
            counting += 1
            if sql == "COMMIT":
                counts.append(counting)
                counting = None
        elif "held = held" in sql or sql.startswith('INSERT INTO "members_ledgerent'):
            counting = 1
    return counts


def _calls(uid: str):
    base = "/api/organization/members"
    return [
        ("create", f"{base}/create", {"uid": uid, "plan": "pro"}),
        ("update", f"{base}/{uid}/update", {"plan": "ultra"}),
        ("cancel", f"{base}/{uid}/cancel", {}),
    ]


def test_a_mutation_stays_within_its_statement_budget(api, funded):
    # given: the process has served these calls once (its caches are warm)
    for name, path, body in _calls("w1"):
        api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"w-{name}")
    calls = _calls("s1")
    for name, path, body in calls:
        with CaptureQueriesContext(connection) as captured:
            response = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=name)
        assert response.status_code == 200, response.content
        sqls = [q["sql"] for q in captured.captured_queries]
        statements, locked = BUDGET[name]
        assert len(sqls) <= statements, f"{name}: {len(sqls)} statements\n" + "\n".join(
            sqls
        )
        # two transactions: record (with the hold and the Idempotency-Key's claim)
        # and settle (with the posting and the key's stored answer); nothing else
        # commits (no statement outside them)
        assert sqls.count("COMMIT") == 2, name
        assert sqls[0] == "BEGIN" and sqls[-1] == "COMMIT", name
        assert sum(1 for s in sqls if s in ("BEGIN", "COMMIT")) == 4, name
        assert all(n <= locked for n in _wallet_locked_statements(sqls)), (
            name,
            _wallet_locked_statements(sqls),
        )
