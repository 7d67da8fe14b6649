"""What both WebSocket gateways (market data /live and /newsfeed, account streams
/v1/accounts/ws) do with a connection: accept it, run its writer (the client's Outbox)
and its reader until either ends, then give the writer CLOSE_GRACE_S to send its close
frame; at shutdown, give every open connection that long (and a second more) to end."""

import asyncio
from abc import ABC, abstractmethod

from marketdata.live import closes
from marketdata.live.outbox import Outbox

CLOSE_GRACE_S = 2.0  # a writer gets this long to send its close frame


class WebSocketGateway(ABC):
    """An ASGI WebSocket application. A subclass makes the client of an accepted
    connection (`_connected`), reads it (`_read`), and lets it go (`_disconnected`)."""

    def __init__(self) -> None:
        self._started = False
        self._handlers: set[asyncio.Task] = set()  # one per open connection

    @abstractmethod
    async def startup(self) -> None:
        """Start what the connections need (once; the first connection may call it)."""

    def _refusal(self, scope) -> int | None:
        """The close code of a connection refused before it is accepted (None: accept)."""
        return None

    @abstractmethod
    def _connected(self, scope, peer: str, outbox: Outbox):
        """The client of a connection just accepted, from `peer` ("host:port")."""

    @abstractmethod
    async def _read(self, client, receive) -> None:
        """Read the client's frames until it goes or must be closed."""

    @abstractmethod
    async def _disconnected(self, client) -> None:
        """Let go of a client whose connection ended."""

    async def __call__(self, scope, receive, send) -> None:
        event = await receive()
        if event["type"] != "websocket.connect":
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await send({"type": "websocket.close", "code": refusal})
            return
        if not self._started:
            await self.startup()
        await send({"type": "websocket.accept"})
        handler = asyncio.current_task()
        self._handlers.add(handler)
        host, port = scope.get("client") or ("", 0)
        client = self._connected(scope, f"{host}:{port}", Outbox(send))
        writer = asyncio.create_task(client.outbox.run())
        reader = asyncio.create_task(self._read(client, receive))
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if not writer.done():
                client.outbox.close(closes.NORMAL, "")
                # Gone clients make the writer fail (the server's ClientDisconnected):
                # nothing to do about it but finish.
                await asyncio.wait({writer}, timeout=CLOSE_GRACE_S)
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await self._disconnected(client)
            self._handlers.discard(handler)

    async def _end_connections(self) -> set[asyncio.Task]:
        """Wait for the open connections (already told to close) to end; those still
        open after the grace are cancelled, and returned."""
        handlers = list(self._handlers)
        if not handlers:
            return set()
        _, late = await asyncio.wait(handlers, timeout=CLOSE_GRACE_S + 1)
        for task in late:
            task.cancel()
        return late
