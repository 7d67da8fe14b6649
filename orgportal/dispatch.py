"""Work a service hands to the worker once its transaction commits, named by the
task's registered name: services never import a tasks module (tasks import
services, never the other way round).

A broker that cannot take the message must not fail a change that has committed:
the failure is logged, and every task queued this way has a beat sweep that finds
its work again (`operations_resolve_pending`, `deliveries_retry_due`).
"""

import logging
from functools import partial

from django.db import transaction

from orgportal.celery import app

log = logging.getLogger(__name__)


def enqueue_after_commit(task: str, *args) -> None:
    """Queue the task `task` (e.g. "members.tasks.operation_resolve") with `args`
    once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(_send, task, args))


def task_named(name: str):
    """The registered task called `name`."""
    if name not in app.tasks:
        # A process that never started a worker has not imported the apps' tasks
        # modules yet (Celery imports them at worker start).
        app.loader.import_default_modules()
    return app.tasks[name]


def _send(task: str, args: tuple) -> None:
    try:
        task_named(task).delay(*args)
    except Exception:
        log.warning(
            "could not queue a task", extra={"task": task, "task_args": repr(args)}
        )
