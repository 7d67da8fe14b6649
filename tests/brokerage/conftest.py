import datetime as dt
import http.server
import json
import threading
import time

import httpx
import jwt
import pytest

from brokerage import services
from members.models import Member
from orgportal import clock
from tests.portal import factories

ACCOUNTS = ["ACC-1", "ACC-2"]


def access_token(*, expires_in: float = 3600, at: dt.datetime | None = None) -> str:
    """A JWT shaped like Aries' access tokens, expiring `expires_in` seconds after `at`
    (default: the project clock's now). Its signature is not orgportal's to check."""
    moment = at or clock.now()
    exp = int(moment.timestamp() + expires_in)
    return jwt.encode(
        {"sub": "user-1", "exp": exp, "iat": int(moment.timestamp())},
        "a-test-secret-that-only-shapes-the-token",
        "HS256",
    )


def link_body(**changes) -> dict:
    body = {
        "access_token": access_token(),
        "refresh_token": "rt_test-refresh-token-0001",
        "account_ids": list(ACCOUNTS),
    }
    body.update(changes)
    return body


def put(client, uid: str, body, **headers):
    return client.put(
        f"/api/organization/members/{uid}/brokerage",
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def member(db) -> Member:
    return factories.members(1, prefix="ann")[0]


@pytest.fixture
def deleted_member(db) -> Member:
    gone = factories.members(1, prefix="gone")[0]
    gone.status = Member.Status.DELETED
    gone.deleted_at = clock.now()
    gone.save()
    return gone


# --- Aries: the sandbox, and a fault-injecting proxy in front of it ------------------


def aries_user(sandbox, accounts: int = 2) -> dict:
    """A brokerage user made through the sandbox's control API: user_id, tokens and
    account_ids."""
    r = httpx.post(f"{sandbox.url}/_sandbox/aries/users", json={"accounts": accounts})
    r.raise_for_status()
    return r.json()


def aries_link(member, user: dict):
    """`member` linked to the Aries user `user` (of `aries_user`); the link."""
    link, _ = services.brokerage_link(
        uid=member.uid,
        access_token=user["access_token"],
        refresh_token=user["refresh_token"],
        account_ids=user["account_ids"],
        actor="tests",
    )
    return link


def aries_settings(sandbox, **changes) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/aries", json=changes).raise_for_status()


def token_endpoint(sandbox, refresh_token: str) -> httpx.Response:
    """Spend a refresh token straight at the sandbox, as another client would."""
    return httpx.post(
        f"{sandbox.url}/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


@pytest.fixture
def aries(sandbox, settings):
    """The sandbox as the Aries upstream."""
    settings.UPSTREAM_ARIES_URL = sandbox.url
    return sandbox


class FaultyAries:
    """A loopback HTTP proxy in front of the sandbox's token endpoint that plays a
    script, one step per request: "503" answers 503 without forwarding; "slow" waits
    past the client's timeout, then forwards; "hang" forwards (so the token rotates)
    and holds the answer past the client's timeout; anything else forwards and
    relays. The sandbox has no faults for this endpoint;
    everything that is answered comes from it."""

    def __init__(self, upstream: str, script: list[str], hang_s: float) -> None:
        self.upstream = upstream
        self.script = list(script)
        self.hang_s = hang_s
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                step = proxy.script.pop(0) if proxy.script else "pass"
                proxy.seen.append(step)
                if step == "503":
                    return self._send(503, b'{"error": "temporarily_unavailable"}')
                if step == "slow":
                    time.sleep(proxy.hang_s)
                answer = httpx.post(
                    proxy.upstream + self.path,
                    content=body,
                    headers={"Content-Type": self.headers["Content-Type"]},
                )
                if step == "hang":
                    time.sleep(proxy.hang_s)
                return self._send(answer.status_code, answer.content)

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as planned

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_aries(aries, settings):
    """`faulty_aries(["503", "503"])`: Aries behind a proxy playing that script."""
    made: list[FaultyAries] = []

    def make(script: list[str]) -> FaultyAries:
        proxy = FaultyAries(aries.url, script, hang_s=settings.UPSTREAM_TIMEOUT + 0.5)
        settings.UPSTREAM_ARIES_URL = proxy.url
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()
