"""Tests of a move of models between apps by state-only migrations: a database at the
schema of before the move, the historical models of then, and one member written
through them; the database is left at the latest schema afterwards.

The migration executor cannot run inside a test's transaction (SQLite's schema editor
refuses to), so these tests commit (`django_db(transaction=True)`)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.times import T0


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


def members_models(apps, *names: str) -> list:
    """The historical models of `members` with these names, in order."""
    return [apps.get_model("members", name) for name in names]


def historical_member(apps, uid: str = "m1"):
    """A member on a plan "pro", through the historical models."""
    Plan, Member = members_models(apps, "Plan", "Member")
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


def log_admin_change(apps, model: str, obj, object_repr: str, new_app: str) -> None:
    """A staff user's admin log entry about `obj`, a `members.<model>`, through the
    historical models; and the content type post_migrate would add for the model in
    `new_app`, had it run in between: the move must keep the row that carries the
    history."""
    User = apps.get_model("auth", "User")
    CT = apps.get_model("contenttypes", "ContentType")
    staff = User.objects.create(username="staff", is_staff=True)
    ct, _ = CT.objects.get_or_create(app_label="members", model=model)
    apps.get_model("admin", "LogEntry").objects.create(
        user=staff,
        content_type=ct,
        object_id=str(obj.pk),
        object_repr=object_repr,
        action_flag=2,
        change_message="[]",
        action_time=T0,
    )
    CT.objects.get_or_create(app_label=new_app, model=model)


def assert_admin_history_moved(model: str, new_app: str, obj) -> None:
    """The admin log entry of `log_admin_change` now names `obj` in `new_app`, and the
    model's content type is gone from `members` (its permissions followed it)."""
    entry = LogEntry.objects.get()
    assert entry.content_type.app_label == new_app
    assert entry.get_edited_object() == obj
    assert not ContentType.objects.filter(app_label="members", model=model).exists()
