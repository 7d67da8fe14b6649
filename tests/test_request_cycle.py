"""A REST API request through the web process's real ASGI application crosses from the
event loop to a worker thread once and answers exactly as Django's full stack does."""

import asyncio

import httpx
import pytest
from asgiref.sync import AsyncToSync, async_to_sync
from django.core.asgi import get_asgi_application

BASE = "http://testserver/api/organization"


class Hops:
    """Counts the crossings between the event loop and worker threads: every job given
    to an executor (sync_to_async, asyncio.to_thread) and every call from a thread
    back into the loop (async_to_sync)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        into_thread = asyncio.BaseEventLoop.run_in_executor
        back_to_loop = AsyncToSync.__call__

        def counted_into_thread(loop, *args):
            self.count += 1
            return into_thread(loop, *args)

        def counted_back_to_loop(adapter, *args, **kwargs):
            self.count += 1
            return back_to_loop(adapter, *args, **kwargs)

        monkeypatch.setattr(
            asyncio.BaseEventLoop, "run_in_executor", counted_into_thread
        )
        monkeypatch.setattr(AsyncToSync, "__call__", counted_back_to_loop)


def call(app, method, url, *, token=None, body=None, hops=None, **headers):
    """One request to the ASGI `app`; (response, hops the request took)."""
    if token:
        headers["Authorization"] = f"Bearer {token}"

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            before = hops.count if hops else 0
            response = await client.request(method, url, json=body, headers=headers)
            return response, (hops.count - before if hops else None)

    return async_to_sync(go)()


@pytest.fixture
def web(transactional_db):
    from orgportal.asgi import application

    return application


@pytest.fixture
def stocked(transactional_db):
    """A wallet with credits bought, committed, so the web process's threads see it."""
    from billing.services.ledger import credits_purchase

    credits_purchase(credits=1000, actor="tests")


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("GET", "/balance", None, 200),
        ("GET", "/members", None, 200),
        ("POST", "/credits/purchase", {"credits": 10}, 200),
    ],
)
def test_an_api_request_crosses_into_a_thread_once(
    web, stocked, service_token, monkeypatch, method, path, body, status
):
    # given: the hops of every request counted, and one request served already (what
    # a process does once, at its first request, is not the request cycle's)
    call(web, "GET", BASE + "/balance", token=service_token)
    hops = Hops(monkeypatch)

    # when
    response, taken = call(
        web, method, BASE + path, token=service_token, body=body, hops=hops
    )

    # then
    assert response.status_code == status, response.text
    assert taken == 1


def answer(response) -> tuple:
    return response.status_code, sorted(response.headers.multi_items()), response.text


@pytest.mark.parametrize(
    "method, path, body, with_token",
    [
        ("GET", "/balance", None, True),
        ("GET", "/members?limit=1", None, True),
        ("GET", "/balance", None, False),
        ("GET", "/no-such-thing", None, True),
        ("DELETE", "/balance", None, True),
        ("POST", "/credits/purchase", {"credits": "ten"}, True),
    ],
)
def test_the_api_answers_as_through_the_portals_middleware(
    web, stocked, service_token, method, path, body, with_token
):
    # given: Django's own handler with every middleware, beside the web process
    full_stack = get_asgi_application()
    token = service_token if with_token else None

    # when: the same request (and request id) to both
    through_web, _ = call(
        web, method, BASE + path, token=token, body=body, **{"X-Request-ID": "r-1"}
    )
    through_full, _ = call(
        full_stack,
        method,
        BASE + path,
        token=token,
        body=body,
        **{"X-Request-ID": "r-1"},
    )

    # then: the same status, headers (security headers included) and body
    assert answer(through_web) == answer(through_full)
    assert through_web.headers["x-frame-options"] == "DENY"


def test_the_portal_keeps_its_middleware_and_static_files(web):
    # when
    login, _ = call(web, "GET", "http://testserver/login/")
    css, _ = call(web, "GET", "http://testserver/static/portal/portal.css")

    # then: a CSRF cookie for the sign-in form, framing refused, static files served
    assert login.status_code == 200
    assert "csrftoken" in login.cookies
    assert login.headers["x-frame-options"] == "DENY"
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
