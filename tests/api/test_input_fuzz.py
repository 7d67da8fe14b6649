"""Hostile input on every API and portal path, by hypothesis: never a 5xx, always the
error shape (or a form error), and a refused request changes nothing. Paths, query
strings and bodies are built from hostile pieces: dot segments, NUL and other control
characters, huge integers, floats like 1e30, far dates, unknown fields, wrong types,
deep nesting and very long strings. Run on PostgreSQL too: it refuses NUL in text and
integers beyond a column's range, where SQLite stores them."""

import os
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.hostile import api_post, state
from tests.rest import BASE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,
    suppress_health_check=list(HealthCheck),
)


# --- hypothesis over every path ----------------------------------------------------

# Path segments and query values; whitespace-separated where none contains a space.
SEGMENTS = st.one_of(
    st.sampled_from(
        """. .. %2e%2e %00 a%00 %01 %1f %7f %0a %0d%0a %2f %ff %c0%ae %ed%a0%80 m1
        create 2147483648 9223372036854775808 -1 1e30""".split()
        + ["x" * 5000]
    ),
    st.text(max_size=20).map(lambda s: quote(s, safe="")),
)
VALUES = st.one_of(
    st.sampled_from(
        """.. 2147483648 9223372036854775808 -9223372036854775809 1e30 NaN Infinity -1 0
        1.5 9999-12-31 9999-12-31T23:59:59Z 9999-12-31T23:59:59-14:00
        0001-01-01T00:00:00+01:00 10000-01-01 2026-02-30 pro""".split()
        + ["", "\x00", "a\x00b", "\x01", "\n", "x" * 10_000]
    ),
    st.text(max_size=30),
)
NUMBERS = st.sampled_from(
    [2**31, 2**31 - 1, 2**63, -(2**63) - 1, 10**400, 1e30, -1e30, 1.5, -1, 0]
)
JSON_SCALARS = st.one_of(
    NUMBERS,
    st.sampled_from(["\x00", "x" * 10_000, "", "9999-12-31T23:59:59Z", True, None]),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)
FIELDS = """uid plan full_name auto_renew overrides rate_limit quota credits amount
reason url events active email role""".split()
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5),
    st.fixed_dictionaries(
        {"overrides": st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4)}
    ),
    JSON_VALUES,
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.sampled_from(["{", '{"credits": 1e999}', '{"credits": NaN}', "\x00", ""]),
)

API_GETS = [
    "/members/{seg}",
    "/members/{seg}/usage?days={val}",
    "/members/{seg}/preview?plan={val}&at={val}",
    "/members/m1/preview?plan=pro&at={val}",
    "/members?page={val}&limit={val}&search={val}&plan={val}&status={val}",
    "/ledger?uid={val}&since={val}&until={val}&cursor={val}&limit={val}&kind={val}",
    "/credits/quote?credits={val}",
    "/operations/{seg}",
    "/webhooks/{seg}",
    "/notifications?uid={val}&event={val}&cursor={val}&limit={val}",
    "/deliveries?endpoint={val}&status={val}&cursor={val}",
    "/{seg}",
    "/members/{seg}/{seg}",
]
API_POSTS = [
    "/members/create",
    "/members/m1/update",
    "/members/{seg}/update",
    "/members/{seg}/cancel",
    "/credits/purchase",
    "/credits/refund",
    "/ledger/adjustments",
    "/webhooks",
]
PORTAL_GETS = [
    "/members/{seg}/",
    "/members/{seg}/settings/",
    "/members/{seg}/change/?plan={val}",
    "/members/{seg}/change/preview/?plan={val}",
    "/members/{seg}/renew/",
    "/members/new/preview/?plan={val}",
    "/members/?q={val}&plan={val}&status={val}&sort={val}&page={val}",
    "/ledger/?kind={val}&uid={val}&since={val}&until={val}&before={val}",
    "/ledger/export.csv?uid={val}&since={val}&until={val}",
    "/audit/?actor={val}&action={val}&object_id={val}&before={val}",
    "/notifications/?status={val}&before={val}",
    "/notifications/deliveries/{seg}/",
    "/webhooks/{seg}/edit/",
    "/credits/quote/?buy-credits={val}",
    "/{seg}/",
]
PORTAL_POSTS = {
    "/members/m1/settings/": [
        "auto_renew",
        "rate_limit",
        "quota",
        "websocket_symbols",
        "websocket_connections",
        "newsfeed",
    ],
    "/settings/": [
        "renew_lead_hours",
        "low_balance_days",
        "reminder_days",
        "notify_emails",
    ],
    "/members/new/": ["uid", "plan", "full_name", "auto_renew"],
    "/credits/purchase/": ["buy-credits", "confirm_amount"],
    "/members/m1/change/": ["plan", "confirm_amount"],
}


@st.composite
def filled(draw, templates):
    template = draw(st.sampled_from(templates))
    while "{seg}" in template:
        template = template.replace("{seg}", draw(SEGMENTS), 1)
    while "{val}" in template:
        template = template.replace("{val}", quote(draw(VALUES), safe=""), 1)
    return template


def no_server_error(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"


def test_api_queries_never_fail(api, member):
    api.raise_request_exception = False

    @FUZZ
    @given(path=filled(API_GETS))
    def check(path):
        before = state()
        r = api.get(BASE + path)
        no_server_error(r, path)
        if r.status_code >= 400:
            assert r.json()["code"].isupper()
        assert state() == before

    check()


def test_api_bodies_never_fail_and_refusals_change_nothing(api, member):
    api.raise_request_exception = False

    @FUZZ
    @given(path=filled(API_POSTS), body=BODIES)
    def check(path, body):
        before = state()
        r = api_post(api, path, body)
        no_server_error(r, f"{path} {str(body)[:200]}")
        if r.status_code >= 400:
            assert r.json()["code"].isupper()
            assert state() == before

    check()


def test_portal_pages_never_fail(owner_client, member):
    @FUZZ
    @given(path=filled(PORTAL_GETS), html=st.booleans())
    def check(path, html):
        before = state()
        headers = {"Accept": "text/html"} if html else {}
        r = owner_client.get(path, headers=headers)
        no_server_error(r, path)
        assert state() == before

    check()


def test_portal_forms_never_fail_and_refusals_change_nothing(owner_client, member):
    form = st.sampled_from(sorted(PORTAL_POSTS)).flatmap(
        lambda path: st.tuples(
            st.just(path),
            st.dictionaries(st.sampled_from(PORTAL_POSTS[path]), VALUES, max_size=4),
        )
    )

    @FUZZ
    @given(form=form)
    def check(form):
        path, data = form
        before = state()
        r = owner_client.post(path, data)
        no_server_error(r, f"{path} {data!r:.200}")
        if r.status_code >= 400:
            assert state() == before

    check()
