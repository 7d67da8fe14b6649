"""Tests of a move of models between apps by state-only migrations: a database at the
schema of before the move, the historical models of then, and one member written
through them; the database is left at the latest schema afterwards.

The migration executor cannot run inside a test's transaction (SQLite's schema editor
refuses to), so these tests commit (`django_db(transaction=True)`)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import T0


def targets_before(graph, move: tuple[str, str]) -> list[tuple[str, str | None]]:
    """Each app's last migration that does not need `move`, and none of the moving
    app's. Found from the graph, so migrations added later on either side of the move
    keep their place."""
    after = set(graph.backwards_plan(move))  # the move and all that needs it
    targets = []
    for app in sorted({app for app, _ in graph.nodes}):
        kept = {n for n in graph.nodes if n[0] == app and n not in after}
        leaves = [
            n
            for n in kept
            if not any(child.key in kept for child in graph.node_map[n].children)
        ]
        targets.extend(leaves or [(app, None)])
    return targets


def migrate(targets) -> MigrationExecutor:
    MigrationExecutor(connection).migrate(targets)
    return MigrationExecutor(connection)


def migrate_to_latest() -> None:
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@contextmanager
def apps_before(move: tuple[str, str]) -> Iterator:
    """The database migrated back to before `move`, and the models of then; the latest
    schema again afterwards."""
    graph = MigrationExecutor(connection).loader.graph
    targets = targets_before(graph, move)
    assert (move[0], None) in targets
    executor = migrate(targets)
    try:
        yield executor.loader.project_state(
            [t for t in targets if t[1] is not None]
        ).apps
    finally:
        migrate_to_latest()
        ContentType.objects.clear_cache()


def historical_member(apps, uid: str = "m1"):
    """A member on a plan "pro", through the historical models."""
    Plan = apps.get_model("members", "Plan")
    Member = apps.get_model("members", "Member")
    plan = Plan.objects.create(
        name="pro",
        price=1500,
        feature="pro",
        rate_limit=10,
        quota=0,
        websocket_symbols=2,
        websocket_connections=1,
        synced_at=T0,
    )
    return Member.objects.create(
        uid=uid,
        plan=plan,
        status="active",
        term_start=T0,
        term_end=T0,
        upstream_created_at=T0,
        rate_limit=10,
        quota=0,
        websocket_symbols=2,
        websocket_connections=1,
        upstream_key_encrypted="x",
        created_at=T0,
        updated_at=T0,
    )
