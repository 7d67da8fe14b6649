"""Service tokens are authenticated from an in-process cache: repeated requests do not
read the token, a change made here is seen at once, one made elsewhere within
CACHE_SECONDS, and last_used_at is still written at most once a minute."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from members import auth
from members.models import ServiceToken
from members.services.keys import service_token_create, service_token_revoke
from orgportal import clock


class Monotonic:
    """members.auth's view of time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch):
    fake = Monotonic()
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def token(db):
    record, token = service_token_create(
        name="backend", scopes=["read", "members"], actor="tests"
    )
    return SimpleNamespace(record=record, secret=token)


def authenticate(secret: str):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    with CaptureQueriesContext(connection) as queries:
        result = auth.ServiceTokenAuthentication().authenticate(request)
    return result, [q["sql"] for q in queries if "servicetoken" in q["sql"].lower()]


def test_a_cached_token_is_not_read_again(token, monotonic, frozen):
    # given: a first request, which reads the token and notes its use
    (first, _), reads = authenticate(token.secret)
    assert len(reads) == 2  # the token, then last_used_at

    # when: another request a moment later
    monotonic.now += auth.CACHE_SECONDS - 0.1
    (again, _), reads = authenticate(token.secret)

    # then: the same token, scopes and name, and no query at all
    assert reads == []
    assert (again.pk, again.name, again.scopes) == (
        token.record.pk,
        "backend",
        ["read", "members"],
    )
    assert again is not first  # each request gets its own instance


def test_a_token_revoked_in_this_process_is_refused_at_once(token, monotonic):
    authenticate(token.secret)

    service_token_revoke(token_id=token.record.pk, actor="tests")

    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(token.secret)


def test_a_token_revoked_by_another_process_is_refused_within_the_bound(
    token, monotonic
):
    # given: a cached token, revoked where this process's signals do not reach
    authenticate(token.secret)
    ServiceToken.objects.filter(pk=token.record.pk).update(revoked_at=clock.now())

    # then: still served from the cache for a moment, refused once it has expired,
    # which is no later than gateway keys are (5 s)
    assert auth.CACHE_SECONDS <= 5.0
    (still, _), _ = authenticate(token.secret)
    assert still.pk == token.record.pk
    monotonic.now += auth.CACHE_SECONDS
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(token.secret)


def test_changed_scopes_apply_at_once(token, monotonic):
    authenticate(token.secret)

    record = ServiceToken.objects.get(pk=token.record.pk)
    record.scopes = ["read"]
    record.save(update_fields=["scopes"])

    (changed, _), _ = authenticate(token.secret)
    assert changed.scopes == ["read"]


def test_last_used_at_is_written_at_most_once_a_minute(token, monotonic, frozen):
    def last_used():
        return ServiceToken.objects.get(pk=token.record.pk).last_used_at

    start = clock.now()
    authenticate(token.secret)
    assert last_used() == start

    # within the minute, through the cache and after reloading it, nothing is written
    for _ in range(2):
        clock.advance(dt.timedelta(seconds=30))
        monotonic.now += auth.CACHE_SECONDS
        _, reads = authenticate(token.secret)
        assert not any(sql.startswith("UPDATE") for sql in reads)
    assert last_used() == start

    # past it, once
    clock.advance(dt.timedelta(seconds=1))
    authenticate(token.secret)
    assert last_used() == start + dt.timedelta(seconds=61)
