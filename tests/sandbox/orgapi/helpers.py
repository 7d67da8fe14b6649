"""Reading the simulated Organization API's answers and state."""

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

import httpx

from tests.sandbox.helpers import post_ok

T0 = dt.datetime(2025, 10, 2, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def member_path(uid: str, action: str | None = None) -> str:
    path = f"/api/organization/members/{quote(uid, safe='')}"
    return f"{path}/{action}" if action else path


def balance(org: httpx.Client) -> Decimal:
    return Decimal(org.get("/_sandbox/state").json()["balance"])


def member_count(org: httpx.Client) -> int:
    return org.get("/_sandbox/state").json()["member_count"]


def set_faults(org: httpx.Client, **faults: object) -> dict:
    return post_ok(org, "/_sandbox/faults", faults)["faults"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], dict)
    return body
