"""Hostile input on every API and portal path: never a 5xx, always the error shape (or
a form error), and a refused request changes nothing.

First the cases once seen failing with a 500, each with the answer it must get; then
hypothesis over paths, query strings and bodies built from hostile pieces: dot
segments, NUL and other control characters, huge integers, floats like 1e30, far
dates, unknown fields, wrong types, deep nesting and very long strings. Run on
PostgreSQL too: it refuses NUL in text and integers beyond a column's range, where
SQLite stores them.
"""

import json
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import LedgerTransaction
from members.models import AuditEvent, Member, Operation
from members.services import operations
from tests.portal.conftest import make_user, signed_in

API = "/api/organization"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def member(funded):
    return operations.member_create(uid="m1", plan="pro", actor="tests").member


@pytest.fixture
def owner_client(db):
    client = signed_in(make_user("fuzz-owner", "owner"))
    client.raise_request_exception = False
    return client


def state() -> tuple:
    """What a refused request must leave as it was."""
    return (
        Member.objects.count(),
        Operation.objects.count(),
        LedgerTransaction.objects.count(),
        AuditEvent.objects.count(),
        list(
            Member.objects.order_by("pk").values_list(
                "uid",
                "plan_id",
                "status",
                "auto_renew",
                "override_rate_limit",
                "override_quota",
                "override_websocket_symbols",
                "override_websocket_connections",
                "override_newsfeed",
            )
        ),
    )


def assert_api_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert body["error"] and isinstance(body["details"], dict)
    return body


def api_post(api, path: str, body) -> object:
    raw = body if isinstance(body, str) else json.dumps(body)
    return api.post(API + path, data=raw, content_type="application/json")


# --- the 500s once found, each with its answer ------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"rate_limit": 2_147_483_648},
        {"quota": 2**63},
        {"websocket_symbols": 10**30},
        {"websocket_connections": 1e30},
    ],
)
def test_overrides_beyond_the_columns_range_are_refused(api, member, overrides):
    before = state()
    api.raise_request_exception = False

    r = api_post(api, "/members/m1/update", {"overrides": overrides})

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert set(body["details"]["overrides"]) == set(overrides)
    assert state() == before


def test_overrides_at_the_columns_limit_are_kept(api, member):
    r = api_post(api, "/members/m1/update", {"overrides": {"quota": 2_147_483_647}})

    assert r.status_code == 200, r.json()
    assert r.json()["member"]["overrides"]["quota"] == 2_147_483_647


@pytest.mark.parametrize(
    "at",
    [
        "9999-12-31T23:59:59Z",
        "9001-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_a_preview_far_from_now_is_refused(api, member, at):
    api.raise_request_exception = False

    r = api.get(f"{API}/members/m1/preview", {"plan": "pro", "at": at})

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert "at" in body["details"]


def test_a_preview_late_in_the_window_still_answers(api, member):
    r = api.get(
        f"{API}/members/m1/preview", {"plan": "ultra", "at": "8999-06-01T00:00:00Z"}
    )

    assert r.status_code == 200, r.json()
    assert r.json()["term_end"].startswith("8999-07-01")


@pytest.mark.parametrize(
    "path",
    [
        "/members/%00",
        "/members/a%00/usage",
        "/members/a%00b/preview?plan=pro",
        "/members/%01",
        "/members/tab%09/usage",
        "/members/new%0Aline",
    ],
)
def test_control_characters_in_a_uid_path_are_not_found(api, member, path):
    api.raise_request_exception = False

    r = api.get(API + path)

    assert_api_error(r, 404, "NOT_FOUND")
    assert r.json()["success"] is False


@pytest.mark.parametrize(
    "method, path",
    [
        ("delete", "/members/%00"),
        ("post", "/members/%00/update"),
        ("post", "/members/%00/cancel"),
    ],
)
def test_control_characters_in_a_uid_path_of_a_mutation_change_nothing(
    api, member, method, path
):
    before = state()
    api.raise_request_exception = False

    r = getattr(api, method)(API + path)

    assert_api_error(r, 404, "NOT_FOUND")
    assert state() == before


@pytest.mark.parametrize(
    "query",
    [
        {"uid": "\x00"},
        {"uid": "a\x01b"},
    ],
)
def test_control_characters_in_ledger_filters_are_refused(api, member, query):
    r = api.get(API + "/ledger", query)

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert "uid" in body["details"]


@pytest.mark.parametrize("name", ["search", "plan"])
def test_control_characters_in_member_list_filters_are_refused(api, member, name):
    r = api.get(API + "/members", {name: "pro\x00"})

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert name in body["details"]


@pytest.mark.parametrize(
    "path, body, unknown",
    [
        ("/members/create", {"uid": "u1", "plan": "pro", "email": "a@b.c"}, ["email"]),
        (
            "/members/create",
            {"uid": "u1", "plan": "pro", "role": "admin", "api_key": "k"},
            ["role", "api_key"],
        ),
        (
            "/members/m1/update",
            {"overrides": {"rate_limit": 5, "rate": 1}},
            ["overrides.rate"],
        ),
        (
            "/members/m1/update",
            {"auto_renew": True, "email": "x", "overrides": {"bogus": 1}},
            ["email", "overrides.bogus"],
        ),
        ("/credits/purchase", {"credits": 10, "price": "0.01"}, ["price"]),
        ("/credits/refund", {"credits": 1, "fee": 0}, ["fee"]),
        ("/ledger/adjustments", {"amount": "1.00", "reason": "r", "by": "x"}, ["by"]),
        ("/webhooks", {"url": "https://example.com/h", "secret": "s"}, ["secret"]),
    ],
)
def test_unknown_body_fields_are_refused_by_name(api, member, path, body, unknown):
    before = state()

    r = api_post(api, path, body)

    answer = assert_api_error(r, 400, "UNKNOWN_FIELD")
    assert sorted(answer["details"]) == sorted(unknown)
    assert all(name in answer["error"] for name in unknown)
    assert state() == before


def test_json_nested_too_deeply_is_malformed(api, member):
    before = state()

    r = api_post(api, "/credits/purchase", "[" * 30_000 + "]" * 30_000)

    assert_api_error(r, 400, "INVALID_JSON")
    assert state() == before


@pytest.mark.parametrize(
    "path",
    [
        "/members/?q=%00",
        "/members/?q=a%01",
        "/ledger/?uid=%00",
        "/ledger/?until=9999-12-31",
        "/ledger/?before=9223372036854775808",
        "/ledger/export.csv?uid=%00",
        "/audit/?actor=%00",
        "/audit/?before=99999999999999999999",
    ],
)
def test_portal_filters_with_bad_values_are_form_errors(owner_client, member, path):
    r = owner_client.get(path, headers={"Accept": "text/html"})

    # the page again, with its filter form marked invalid
    assert r.status_code == 400
    assert r["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path", ["/members/%00/", "/members/a%00/settings/", "/members/%1F/change/"]
)
def test_portal_member_paths_with_control_characters_are_not_found(
    owner_client, member, path
):
    r = owner_client.get(path, headers={"Accept": "text/html"})

    assert r.status_code == 404
    assert b"Page not found" in r.content


@pytest.mark.parametrize(
    "path", ["/members/new/preview/?plan=%00", "/members/m1/change/preview/?plan=%00"]
)
def test_portal_plan_previews_refuse_control_characters(owner_client, member, path):
    r = owner_client.get(path)

    assert r.status_code == 200
    assert b"Control characters are not allowed" in r.content


def test_portal_member_settings_beyond_the_columns_range_are_form_errors(
    owner_client, member
):
    before = state()

    r = owner_client.post("/members/m1/settings/", {"rate_limit": 2**31})

    assert r.status_code == 400
    assert b"less than or equal to 2147483647" in r.content
    assert state() == before


def test_portal_organisation_settings_beyond_the_columns_range_are_form_errors(
    owner_client, member
):
    r = owner_client.post(
        "/settings/",
        {"renew_lead_hours": 2**31, "low_balance_days": 2**63, "reminder_days": "7"},
    )

    assert r.status_code == 400
    assert r.content.count(b"less than or equal to 2147483647") == 2


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
        r = api.get(API + path)
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
