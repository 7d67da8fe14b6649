"""brokerage.rules: token health, refresh timing, what a link may hold, and the expiry
read out of an access token. Pure functions, so every boundary is checked."""

import base64
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerage import rules
from brokerage.rules import TokenStatus

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(minutes=10)
S = dt.timedelta(seconds=1)


def status(remaining: dt.timedelta, *, failed: bool = False, window=WINDOW):
    return rules.token_status(
        expires_at=NOW + remaining,
        failed_at=NOW - dt.timedelta(hours=1) if failed else None,
        now=NOW,
        expiring_window=window,
    )


# --- token_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (-dt.timedelta(days=3650), TokenStatus.EXPIRED),
        (-S, TokenStatus.EXPIRED),
        (dt.timedelta(0), TokenStatus.EXPIRED),  # a JWT is refused at its exp
        (S, TokenStatus.EXPIRING),
        (WINDOW - S, TokenStatus.EXPIRING),
        (WINDOW, TokenStatus.EXPIRING),
        (WINDOW + S, TokenStatus.VALID),
        (dt.timedelta(days=3650), TokenStatus.VALID),
    ],
)
def test_status_by_time_left(remaining, expected):
    # given a healthy link whose token has `remaining` left
    # when / then
    assert status(remaining) is expected


@pytest.mark.parametrize(
    "remaining",
    [-dt.timedelta(days=1), dt.timedelta(0), S, WINDOW, dt.timedelta(days=30)],
)
def test_a_failed_link_is_failed_whatever_its_expiry(remaining):
    # given a link whose refresh token Aries refused for good
    # when / then: only a new link revives it, so no time makes it look healthy
    assert status(remaining, failed=True) is TokenStatus.FAILED


def test_a_zero_window_never_says_expiring():
    # given no "expiring" window
    # when / then
    assert status(S, window=dt.timedelta(0)) is TokenStatus.VALID
    assert status(dt.timedelta(0), window=dt.timedelta(0)) is TokenStatus.EXPIRED


@given(
    remaining_s=st.integers(min_value=-(10**9), max_value=10**9),
    window_s=st.integers(min_value=0, max_value=10**7),
    failed=st.booleans(),
)
def test_status_is_the_one_the_definition_names(remaining_s, window_s, failed):
    # given any expiry, window and failure
    remaining = dt.timedelta(seconds=remaining_s)
    # when
    got = status(remaining, failed=failed, window=dt.timedelta(seconds=window_s))
    # then: exactly one status, by the documented precedence
    if failed:
        assert got is TokenStatus.FAILED
    elif remaining_s <= 0:
        assert got is TokenStatus.EXPIRED
    elif remaining_s <= window_s:
        assert got is TokenStatus.EXPIRING
    else:
        assert got is TokenStatus.VALID


def test_status_words_are_the_documented_ones():
    assert [s.value for s in TokenStatus] == ["valid", "expiring", "expired", "failed"]
    assert set(rules.TOKEN_STATUS_HELP) == set(TokenStatus)


# --- claim_free ----------------------------------------------------------

LEAD = dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    ("claimed_until", "free"),
    [(None, True), (NOW - S, True), (NOW, True), (NOW + S, False)],
)
def test_a_claim_is_free_once_its_lease_ran_out(claimed_until, free):
    assert rules.claim_free(claimed_until=claimed_until, now=NOW) is free


# --- input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("rt_abc-DEF_123.~", True),
        ("x" * rules.TOKEN_MAX_CHARS, True),
        ("x" * (rules.TOKEN_MAX_CHARS + 1), False),
        ("", False),
        ("has space", False),
        ("tab\there", False),
        ("nul\x00", False),
        ("ünïcode", False),
        (12345, False),
        (None, False),
        (["rt"], False),
        ({"t": "rt"}, False),
        (True, False),
    ],
)
def test_token_problem(value, ok):
    assert (rules.token_problem(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (["ACC1"], True),
        (["ACC1", "acc1"], True),  # ids are case-sensitive
        ([f"A{i}" for i in range(rules.ACCOUNTS_MAX)], True),
        (["x" * rules.ACCOUNT_ID_MAX_CHARS], True),
        ([], False),
        ("ACC1", False),
        ({"ACC1": 1}, False),
        (None, False),
        ([f"A{i}" for i in range(rules.ACCOUNTS_MAX + 1)], False),
        (["x" * (rules.ACCOUNT_ID_MAX_CHARS + 1)], False),
        ([""], False),
        (["ACC 1"], False),
        (["ACC\x00"], False),
        ([1], False),
        ([None], False),
        ([["ACC1"]], False),
        (["ACC1", "ACC2", "ACC1"], False),
    ],
)
def test_account_ids_problem(value, ok):
    assert (rules.account_ids_problem(value) is None) is ok


def test_duplicate_account_ids_are_named():
    assert "ACC1" in rules.account_ids_problem(["ACC1", "ACC2", "ACC1", "ACC1"])


def test_account_ids_typed_in_a_form():
    assert rules.account_ids_parse(" A1, A2\nA3  A4,,\r\n") == ["A1", "A2", "A3", "A4"]
    assert rules.account_ids_parse("  \n ") == []


# --- access token expiry -----------------------------------------------------------------


def b64(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(payload, header=None) -> str:
    return f"{b64(header or {'alg': 'HS256'})}.{b64(payload)}.c2ln"


def raw(payload: bytes) -> str:
    """A JWT-shaped token whose payload segment encodes these bytes."""
    return f"{b64({'alg': 'none'})}.{b64(payload)}.sig"


def test_expiry_comes_from_the_exp_claim_without_the_signature():
    # given a token signed with a key orgportal does not have
    exp = int(NOW.timestamp()) + 3600
    # when
    expiry = rules.access_token_expiry(token({"sub": "u", "exp": exp}))
    # then
    assert expiry == NOW + dt.timedelta(hours=1)
    assert expiry.tzinfo is not None


def test_a_fractional_exp_is_kept():
    got = rules.access_token_expiry(token({"exp": NOW.timestamp() + 0.5}))
    assert got == NOW + dt.timedelta(milliseconds=500)


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJub25lIn0.!!!.sig",
        raw(b"not json"),
        raw(bytes([0xFF, 0xFE])),
        token([1, 2, 3]),
        token("a string"),
        token({"sub": "no exp"}),
        token({"exp": "1700000000"}),
        token({"exp": True}),
        token({"exp": None}),
        token({"exp": 0}),
        token({"exp": -5}),
        token({"exp": 10**15}),
        raw(b'{"exp": Infinity}'),
        raw(b'{"exp": NaN}'),
        raw(b"[" * 100_000),
    ],
)
def test_what_is_not_a_jwt_with_a_usable_exp(bad):
    assert rules.access_token_expiry(bad) is None
    assert rules.access_token_problem(bad) is not None


@given(st.text(max_size=300))
def test_expiry_never_raises(text):
    rules.access_token_expiry(text)
    rules.access_token_problem(text)
