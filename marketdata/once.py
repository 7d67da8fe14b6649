"""An idempotent async start that concurrent callers may race to."""

import asyncio
from collections.abc import Awaitable, Callable


class StartOnce:
    """Runs a start unless `started()` says it has run; callers that arrive while it
    runs wait for it, then find it done. The start itself records that it has run.

    The lock is made on first use and dropped by `reset` (at shutdown): a lock is bound
    to the loop it first waited on, and the next start may be on another loop (a new
    server in the same process)."""

    def __init__(self, started: Callable[[], bool]) -> None:
        self._started = started
        self._lock: asyncio.Lock | None = None

    async def run(self, start: Callable[[], Awaitable[None]]) -> None:
        if self._started():
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._started():
                await start()

    def reset(self) -> None:
        self._lock = None
