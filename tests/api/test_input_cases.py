"""Hostile input once seen failing with a 500 on an API or portal path, each with the
answer it must get: the error shape (or a form error), and nothing changed. Run on
PostgreSQL too: it refuses NUL in text and integers beyond a column's range, where
SQLite stores them."""

import pytest

from tests.api.hostile import api_post, assert_api_error, state
from tests.rest import BASE

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

    r = api.get(f"{BASE}/members/m1/preview", {"plan": "pro", "at": at})

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert "at" in body["details"]


def test_a_preview_late_in_the_window_still_answers(api, member):
    r = api.get(
        f"{BASE}/members/m1/preview", {"plan": "ultra", "at": "8999-06-01T00:00:00Z"}
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

    r = api.get(BASE + path)

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

    r = getattr(api, method)(BASE + path)

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
    r = api.get(BASE + "/ledger", query)

    body = assert_api_error(r, 400, "VALIDATION_ERROR")
    assert "uid" in body["details"]


@pytest.mark.parametrize("name", ["search", "plan"])
def test_control_characters_in_member_list_filters_are_refused(api, member, name):
    r = api.get(BASE + "/members", {name: "pro\x00"})

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
