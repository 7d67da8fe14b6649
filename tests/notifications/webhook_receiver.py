"""A webhook receiver on loopback, as a parent SaaS would run one: it checks each POST's
signature with `notifications.signing.verify` and answers as the test tells it to. It can be
stopped (connections refused) and started again on the same port.

Loopback is an internal address: the tests that send to it turn on
WEBHOOK_ALLOW_PRIVATE_TARGETS (the `private_targets_allowed` fixture)."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from notifications.signing import verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items()}
        verified = receiver.secret is not None and verify(
            receiver.secret, headers.get("Orgportal-Signature"), body
        )
        with receiver.lock:
            receiver.received.append(Received(headers, body, verified))
            status, delay = receiver.status, receiver.delay_s
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Type", "text/plain")
            payload = b"ok" if 200 <= status < 300 else b"receiver says no"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the sender gave up waiting
            pass

    def log_message(self, format, *args):
        pass


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.secret: str | None = None
        self.status = 204
        self.delay_s = 0.0
        # Sent as the Location header of every answer (a redirect, with a 3xx status).
        self.location: str | None = None
        self.port = 0
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/orgportal"

    def start(self) -> "Receiver":
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self.port = server.server_address[1]
        # A short poll keeps stop() quick.
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self) -> int:
        with self.lock:
            return len(self.received)
