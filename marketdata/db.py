"""Database work for the gateway's event loop, done in worker threads.

Each call gives its connection back when it finishes: a pooled connection kept by an idle
worker thread would never return to the pool."""

from asgiref.sync import sync_to_async
from django.db import connections


def in_thread(fn):
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)
