"""Tell every process that a member's access data changed, so caches of keys, plans and
limits (the gateways') drop it at once. In-process listeners always; across processes over
Redis pub/sub when REDIS_URL is set."""

import json
import logging
from collections.abc import Callable

from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL = "orgportal:member-changed"
_listeners: list[Callable[[int], None]] = []


def listen(callback: Callable[[int], None]) -> None:
    _listeners.append(callback)


def member_changed(member_id: int) -> None:
    for callback in list(_listeners):
        callback(member_id)
    if settings.REDIS_URL:
        try:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
            client.publish(CHANNEL, json.dumps({"member_id": member_id}))
        except Exception:  # a cache hint must never fail the change that caused it
            log.warning(
                "could not publish member change", extra={"member_id": member_id}
            )
