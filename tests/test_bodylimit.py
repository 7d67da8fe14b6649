"""The request-size limit acts while the body arrives: a declared length over the limit
is refused before any of the body is read, a streamed body is cut off at the limit, and
the 413 closes the connection so the server never reads the rest."""

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from asgiref.sync import async_to_sync
from prometheus_client import REGISTRY

from orgportal.bodylimit import LINGER_BYTES, BodyLimit
from tests.marketdata.conftest import free_port

LIMIT = 4096


# --- the wrapper alone, with a fake server and a fake Django --------------------------


class FakeClient:
    """The server side of one request: `receive` hands out the body in chunks and
    counts how many bytes the application took; `send` collects the answer."""

    def __init__(self, chunks, *, chunk_size=1024, endless=False):
        self.chunks = list(chunks)
        self.endless, self.chunk_size = endless, chunk_size
        self.consumed = 0
        self.consumed_when_answered = None
        self.sent = []

    async def receive(self):
        if self.endless:
            await asyncio.sleep(0)  # a real server yields here; lets a timeout fire
            self.consumed += self.chunk_size
            return {
                "type": "http.request",
                "body": b"x" * self.chunk_size,
                "more_body": True,
            }
        if self.chunks:
            body = self.chunks.pop(0)
            self.consumed += len(body)
            return {
                "type": "http.request",
                "body": body,
                "more_body": bool(self.chunks),
            }
        await asyncio.sleep(3600)  # nothing more until the client goes away

    async def send(self, message):
        if not self.sent:
            self.consumed_when_answered = self.consumed
        self.sent.append(message)

    @property
    def status(self):
        return self.sent[0]["status"] if self.sent else None

    @property
    def headers(self):
        return dict(self.sent[0]["headers"])

    @property
    def body(self):
        return b"".join(m.get("body", b"") for m in self.sent[1:])


async def reads_whole_body(scope, receive, send):
    """What Django's ASGI handler does first: read until the body ends or the client
    goes away."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read %d" % len(body)})


def http_scope(path="/api/organization/members/create", length=None):
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


def run(app, scope, client):
    async def go():
        await asyncio.wait_for(app(scope, client.receive, client.send), 5)

    async_to_sync(go)()


@pytest.fixture
def limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    return LIMIT


def test_a_declared_length_over_the_limit_is_refused_before_reading(limit):
    # given: a request that says it carries 1 GiB
    client = FakeClient([b"{}"])
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    # when
    run(BodyLimit(app), http_scope(length=1 << 30), client)

    # then: 413 before a byte was read, and without Django being asked
    assert client.status == 413
    assert client.consumed_when_answered == 0
    assert called == []
    assert client.headers[b"connection"] == b"close"
    assert json.loads(client.body) == {
        "success": False,
        "error": f"Request body too large (limit {LIMIT} bytes)",
        "code": "PAYLOAD_TOO_LARGE",
        "details": {"limit": LIMIT},
    }


def test_a_streamed_body_is_cut_off_at_the_limit(limit):
    # given: a chunked body that never ends, 1 KiB per message
    client = FakeClient([], endless=True, chunk_size=1024)

    # when: the application reads the body as Django does
    run(BodyLimit(reads_whole_body), http_scope(path="/healthz"), client)

    # then: refused once the count passed the limit, one chunk over at most; what
    # follows is read and dropped only up to the linger bound, never to the end
    assert client.status == 413
    assert LIMIT < client.consumed_when_answered <= LIMIT + 1024
    assert client.consumed <= client.consumed_when_answered + LINGER_BYTES + 1024
    assert client.headers[b"connection"] == b"close"
    assert len(client.sent) == 3, "the application answered after the 413"
    assert client.sent[-1] == {"type": "http.response.body", "body": b""}
    # outside the Organization API mirror the error has no "success"
    assert json.loads(client.body)["code"] == "PAYLOAD_TOO_LARGE"
    assert "success" not in json.loads(client.body)


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_at_the_limit_reaches_the_application_whole(limit, declared):
    chunks = [b"x" * 1000] * 4 + [b"x" * (LIMIT - 4000)]
    client = FakeClient(chunks)

    run(
        BodyLimit(reads_whole_body),
        http_scope(length=LIMIT if declared else None),
        client,
    )

    assert client.status == 200
    assert client.body == b"read %d" % LIMIT


def test_no_limit_configured_passes_everything(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    client = FakeClient([b"x" * 100_000])

    run(BodyLimit(reads_whole_body), http_scope(length=100_000), client)

    assert client.status == 200


# --- the web process's Django application, in process -------------------------------


def _requests_total(*, route, status, method):
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("orgportal_http_requests_total", labels) or 0.0


def test_the_web_process_refuses_a_body_over_the_limit_with_413(
    transactional_db, settings, service_token
):
    from billing.models import CreditLot
    from orgportal.asgi import django_application

    # given: a 1 KiB limit and a purchase padded to exactly it, then one byte over
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    route = "api/organization/credits/purchase"
    before = _requests_total(route=route, method="POST", status="4xx")
    body = b'{"credits": 10}'
    at_limit, over_limit = (
        FakeClient([body.ljust(1024)]),
        FakeClient([body.ljust(1025)]),
    )

    # when
    path = "/" + route
    run(django_application, asgi_scope(path, 1024, service_token), at_limit)
    run(django_application, asgi_scope(path, 1025, service_token), over_limit)

    # then
    assert at_limit.status == 200
    assert over_limit.status == 413
    assert over_limit.consumed_when_answered == 0
    assert json.loads(over_limit.body) == {
        "success": False,
        "error": "Request body too large (limit 1024 bytes)",
        "code": "PAYLOAD_TOO_LARGE",
        "details": {"limit": 1024},
    }
    assert b"x-request-id" in over_limit.headers
    assert CreditLot.objects.count() == 1
    after = _requests_total(route=route, method="POST", status="4xx")
    assert after == before + 1


def asgi_scope(path, length, token):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


# --- through a real uvicorn server ---------------------------------------------------


class Server:
    def __init__(self, app, http: str) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", http=http
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive()
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock


def read_response(sock: socket.socket, *, timeout: float) -> tuple[int, dict, bytes]:
    """Read one response; the body up to Content-Length."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip()
        for k, v in (line.split(":", 1) for line in lines[1:])
    }
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return status, headers, body


def closed_by_server(sock: socket.socket, *, timeout: float = 2.0) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.fixture
def served(transactional_db, settings, service_token, request):
    from orgportal.asgi import application

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    with Server(application, request.param) as server:
        yield server


HTTP_IMPLEMENTATIONS = ["h11", "httptools"]


@pytest.mark.parametrize("served", HTTP_IMPLEMENTATIONS, indirect=True)
def test_a_1_gib_declaration_is_answered_at_once_without_the_body(served):
    # given: headers announcing 1 GiB, and then only a few bytes of it
    sock = served.connect()
    started = time.monotonic()
    sock.sendall(
        b"POST /api/organization/credits/purchase HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n" + b'{"credits": '
    )

    # when: the client waits, still owing almost all of the body
    status, headers, body = read_response(sock, timeout=1.0)

    # then: the answer came within a second, and the server hung up rather than wait
    # for (and read) the rest
    assert time.monotonic() - started < 1.0
    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
    assert closed_by_server(sock)
    sock.close()


@pytest.mark.parametrize("served", HTTP_IMPLEMENTATIONS, indirect=True)
def test_a_chunked_body_is_refused_once_past_the_limit(served):
    # given: a chunked body sent up to twice the limit and then left unfinished, so
    # a server reading it whole would still be waiting for its end
    sock = served.connect()
    sock.sendall(
        b"POST /api/organization/credits/purchase HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 8192
    for _ in range(16):  # 128 KiB against a 64 KiB limit
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    # when
    status, headers, body = read_response(sock, timeout=2.0)

    # then
    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(body)["details"] == {"limit": 64 * 1024}
    assert closed_by_server(sock)
    sock.close()


@pytest.mark.parametrize("served", HTTP_IMPLEMENTATIONS, indirect=True)
def test_bodies_under_the_limit_work_as_before(served, service_token):
    from billing.models import CreditLot

    auth = f"Authorization: Bearer {service_token}\r\n".encode()
    # padded to just under the limit: whitespace is valid JSON
    body = b'{"credits": 10}'
    padded = body + b" " * (64 * 1024 - len(body))
    with served.connect() as sock:
        sock.sendall(
            b"POST /api/organization/credits/purchase HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + auth
            + b"Content-Length: %d\r\n\r\n" % len(padded)
            + padded
        )
        status, _, answer = read_response(sock, timeout=10)
        assert (status, json.loads(answer)["credits"]) == (200, 10)

        # and a chunked one on the same (kept-alive) connection reaches the API too,
        # which, as before, reads a body only by its Content-Length (DRF)
        sock.sendall(
            b"POST /api/organization/credits/purchase HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + auth
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(padded), padded)
        )
        status, _, answer = read_response(sock, timeout=10)
        assert (status, json.loads(answer)["code"]) == (400, "VALIDATION_ERROR")
    assert CreditLot.objects.count() == 1
