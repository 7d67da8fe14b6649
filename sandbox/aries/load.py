"""Benchmark load on the simulated accounts WebSocket: with `load_events_per_second`
above 0, every `account` subscription gets that many `account.balance` events a
second, each account at its own phase of the period (as independent accounts change),
the balance as the book computes it (at most once a second per account), and the
envelope timestamp in milliseconds (RFC 3339 allows the fraction) so a client can
measure how long an event took. Counted per connection as `load_sent`.

`bench/account_streams.py` drives it; nothing else sends these events."""

import asyncio
import hashlib
import json
import math
import time
from typing import TYPE_CHECKING

from orgportal import clock
from sandbox.state.formats import format_time

if TYPE_CHECKING:
    from sandbox.aries.hub import Hub

IDLE_SECONDS = 0.25  # how often an idle feed reads the setting again
REPLAN_SECONDS = 0.25  # how often the subscriptions are looked at again
SLOTS = 20  # phases per period


def phase_of(account_id: str) -> int:
    digest = hashlib.blake2b(account_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest) % SLOTS


class LoadFeed:
    def __init__(self, hub: "Hub") -> None:
        self.hub = hub
        self._task: asyncio.Task[None] | None = None
        self._balances: dict[str, tuple[int, bytes]] = {}  # account -> (second, json)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        plan: list[list[tuple]] = [[] for _ in range(SLOTS)]
        planned_at = 0.0
        done = None  # the last slot sent (slots count from the loop clock's zero)
        while self.hub.conns:
            rate = self.hub.state.aries.config.load_events_per_second
            if rate <= 0:
                done = None
                await asyncio.sleep(IDLE_SECONDS)
                continue
            now = time.monotonic()
            if now - planned_at > REPLAN_SECONDS:
                plan, planned_at = self._plan(), now
            slot_s = 1.0 / rate / SLOTS
            slot = int(now / slot_s)
            # A late wake-up sends the slots it overslept (at most one period's), so
            # the rate holds; beyond that the sandbox itself is the bottleneck.
            first = slot if done is None else max(done + 1, slot - SLOTS + 1)
            for late in range(first, slot + 1):
                self._send(plan[late % SLOTS])
            done = slot
            wait = (slot + 1) * slot_s - time.monotonic()
            await asyncio.sleep(max(wait, 0))

    def _plan(self) -> list[list[tuple]]:
        """The account subscriptions, by the slot of the period they tick in."""
        plan: list[list[tuple]] = [[] for _ in range(SLOTS)]
        for conn in list(self.hub.conns.values()):
            if conn.closing or conn.book is None:
                continue
            for sub in conn.subs.values():
                if sub.topic == "account":
                    plan[phase_of(sub.account_id)].append((conn, sub.account_id))
        return plan

    def _send(self, due: list[tuple]) -> None:
        if not due:
            return
        moment = clock.now()
        stamp = format_time(moment).encode()
        second = math.floor(moment.timestamp())
        hub = self.hub
        for conn, account_id in due:
            body = self._balance(conn.book, account_id, second)
            if body is None:
                continue
            payload = b'{"type":"event","timestamp":"' + stamp + b'","payload":' + body
            if hub._write(conn, payload + b"}", data=True):
                conn.load_sent += 1

    def _balance(self, book, account_id: str, second: int) -> bytes | None:
        cached = self._balances.get(account_id)
        if cached is not None and cached[0] == second:
            return cached[1]
        account = book.accounts.get(account_id)
        if account is None:
            return None
        event = book.balance_event(account)
        target, name, data = event
        body = json.dumps(
            {"topic": "account", "name": name, "target": target, "data": data},
            separators=(",", ":"),
        ).encode()
        self._balances[account_id] = (second, body)
        return body
