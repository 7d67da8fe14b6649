"""Two web processes sharing PostgreSQL and Redis: limits hold exactly across them, and
a revocation in one place is seen by the other on its very next request."""

import concurrent.futures
from pathlib import Path

import httpx
import pytest

from members.services import operations
from tests.marketdata.conftest import free_port
from tests.webproc import MULTIPROCESS, Web, web_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = MULTIPROCESS


@pytest.fixture
def two_webs(sandbox, transactional_db, settings):
    env = web_env(sandbox, settings)
    webs = [Web(env, free_port()), Web(env, free_port())]
    yield [web.url for web in webs]
    for web in webs:
        web.stop()


def call(url, key, path="/v3/symbols/quotes?codes=NASDAQ:AAPL"):
    return httpx.get(url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_exactly_the_rate_limit_across_two_processes(two_webs, member_key):
    key = member_key("p", "pro")  # 25 a minute
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda i: call(two_webs[i % 2], key), range(200)))
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 25
    assert codes.count(429) == 175


def test_exact_quota_across_two_processes(two_webs, member_key):
    key = member_key("q", "mega")
    operations.member_settings_update(uid="q", actor="tests", overrides={"quota": 7})
    answers = [call(two_webs[i % 2], key).status_code for i in range(12)]
    assert answers == [200] * 7 + [429] * 5


def test_revocation_is_seen_by_the_other_process_on_the_next_request(
    two_webs, member_key
):
    key = member_key("r", "pro")
    assert call(two_webs[0], key).status_code == 200
    assert call(two_webs[1], key).status_code == 200  # both processes cached it
    _, new_key = operations.member_key_rotate(uid="r", actor="tests")
    assert call(two_webs[1], key).status_code == 401
    assert call(two_webs[0], key).status_code == 401
    assert call(two_webs[1], new_key).status_code == 200
    operations.member_cancel(uid="r", actor="tests")
    assert call(two_webs[0], new_key).json()["code"] == "MEMBER_CANCELLED"
