"""Tell every process that a member's access data changed (plan, status, keys, limits),
so the gateways' caches drop it before the next request.

In-process listeners are called at once. With REDIS_URL, the member's generation counter
is bumped (every gateway compares it in the same Redis call that counts the request, so
the very next request in any process sees the change) and a pub/sub message lets other
processes drop their cached copy early.
"""

import json
import logging
import threading
from collections.abc import Callable

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_listeners: list[Callable[[int], None]] = []
_client = None
_client_lock = threading.Lock()


def channel() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:member-changed"


def listen(callback: Callable[[int], None]) -> None:
    _listeners.append(callback)


def unlisten(callback: Callable[[int], None]) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def _redis():
    global _client
    with _client_lock:
        if _client is None or _client[0] != settings.REDIS_URL:
            _client = (
                settings.REDIS_URL,
                redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2),
            )
        return _client[1]


def member_changed(member_id: int) -> None:
    for callback in list(_listeners):
        callback(member_id)
    if settings.REDIS_URL:
        try:
            pipe = _redis().pipeline()
            pipe.incr(f"{settings.REDIS_KEY_PREFIX}:gen:{member_id}")
            pipe.publish(channel(), json.dumps({"member_id": member_id}))
            pipe.execute()
        except Exception:  # a cache hint must never fail the change that caused it
            log.warning(
                "could not publish member change", extra={"member_id": member_id}
            )
