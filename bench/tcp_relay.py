"""The floor of any account stream proxy: a byte relay. Each accepted connection gets
its own connection to the upstream, and bytes are copied both ways as they arrive
(uvloop, protocol to transport: no task, no parsing, no copy beyond the socket
reads, flow control by pausing the other side's reading). The WebSocket handshake,
auth and every frame pass through untouched, so a client speaks to upstream as if
directly. Whatever a proxy does per event beyond one read and one write, this does
not do. Run: python bench/tcp_relay.py PORT UPSTREAM_PORT"""

import asyncio
import sys

import uvloop

HOST = "127.0.0.1"


class Pipe(asyncio.Protocol):
    """One side of a relayed connection; `peer` is the other side's Pipe."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.early: list[bytes] = []  # from the client before upstream connected

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)
        else:
            peer.transport.write(data)

    def pause_writing(self) -> None:  # our socket is full: stop reading the other
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def main(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()

    def accepted() -> Pipe:
        client = Pipe()

        async def connect() -> None:
            try:
                _, upstream = await loop.create_connection(Pipe, HOST, upstream_port)
            except OSError:
                client.transport.close()
                return
            upstream.peer, client.peer = client, upstream
            for data in client.early:
                upstream.transport.write(data)
            client.early = []

        loop.create_task(connect())
        return client

    server = await loop.create_server(accepted, HOST, port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
