"""Who is connected where, for operators: every web process lists its open member
WebSocket connections (with their subscriptions) so the portal and the API can show
them, and takes "disconnect" commands from them.

With Redis, each process writes its connections under the member (refreshed by the
gateway's sweep, gone LISTED_FOR seconds after a process dies) and listens for
disconnect commands on one channel. In the embedded default there is one web process:
the portal's thread asks the gateway on its own event loop.
"""

import asyncio
import json
import os
import time

import redis
from django.conf import settings

LISTED_FOR_S = 15.0  # a listing not refreshed this long is gone (a dead process)
_process = f"{os.uname().nodename}-{os.getpid()}"
_local = None  # (loop, gateway) of this process's WebSocket gateway


def channel() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:ws-disconnect"


def _keys(member_id: int) -> tuple[str, str]:
    prefix = settings.REDIS_KEY_PREFIX
    return f"{prefix}:wsopen:{member_id}", f"{prefix}:wsinfo:{member_id}"


def connection_key(connection_id: str) -> str:
    return f"{_process}:{connection_id}"


# --- the gateway's side (async, on its loop) ---------------------------------------------


def serve_locally(loop, gateway) -> None:
    global _local
    _local = (loop, gateway)


def stop_serving_locally(gateway) -> None:
    global _local
    if _local is not None and _local[1] is gateway:
        _local = None


async def publish(redis, listings: dict[int, list[dict]]) -> None:
    """This process's connections of each member, listed for LISTED_FOR_S seconds: one
    round trip, four commands a member whatever its number of connections."""
    if redis is None or not listings:
        return
    until = int((time.time() + LISTED_FOR_S) * 1000)
    pipe = redis.pipeline(transaction=False)
    for member_id, rows in listings.items():
        if not rows:
            continue
        live, info = _keys(member_id)
        fields = {connection_key(row["id"]): row for row in rows}
        pipe.zadd(live, dict.fromkeys(fields, until))
        pipe.hset(
            info,
            mapping={f: json.dumps({**row, "id": f}) for f, row in fields.items()},
        )
        pipe.expire(live, int(LISTED_FOR_S * 2))
        pipe.expire(info, int(LISTED_FOR_S * 2))
    await pipe.execute()


async def unpublish(redis, member_id: int, connection_id: str) -> None:
    if redis is None:
        return
    live, info = _keys(member_id)
    field = connection_key(connection_id)
    pipe = redis.pipeline(transaction=False)
    pipe.zrem(live, field)
    pipe.hdel(info, field)
    await pipe.execute()


async def listen(redis, gateway) -> None:
    """Carry out disconnect commands meant for connections of this process."""
    while True:
        try:
            pubsub = redis.pubsub()
            await pubsub.subscribe(channel())
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                command = json.loads(message["data"])
                target = command.get("connection")
                if target is not None:
                    process, _, local_id = target.rpartition(":")
                    if process != _process:
                        continue
                    target = local_id
                gateway.disconnect(int(command["member_id"]), target)
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(1)


# --- the portal's and the API's side (sync, any thread) ----------------------------------


def _redis():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def connections_of(member_id: int) -> list[dict]:
    """The member's open WebSocket connections in every process, oldest first."""
    if settings.REDIS_URL:
        client = _redis()
        live, info = _keys(member_id)
        now = int(time.time() * 1000)
        fields = client.zrangebyscore(live, now, "+inf")
        if not fields:
            return []
        rows = [json.loads(raw) for raw in client.hmget(info, fields) if raw]
    else:
        rows = _ask_local(lambda gateway: gateway.connections_of(member_id)) or []
        rows = [{**row, "id": connection_key(row["id"])} for row in rows]
    return sorted(rows, key=lambda row: row["opened_at"])


def disconnect(member_id: int, connection: str | None = None) -> None:
    """Close one connection (its id from connections_of) or all of the member's."""
    if settings.REDIS_URL:
        _redis().publish(
            channel(), json.dumps({"member_id": member_id, "connection": connection})
        )
        return
    local_id = None if connection is None else connection.rpartition(":")[2]
    _ask_local(lambda gateway: gateway.disconnect(member_id, local_id))


def _ask_local(call):
    if _local is None:
        return None
    loop, gateway = _local
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return call(gateway)

    async def on_loop():
        return call(gateway)

    try:
        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout=5)
    except (RuntimeError, TimeoutError):
        return None
