import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client
from django.urls import path
from prometheus_client.parser import text_string_to_metric_families


def _boom(request):
    raise RuntimeError("secret detail that must not leak")


def _forbidden(request):
    raise PermissionDenied


def _suspicious(request):
    raise SuspiciousOperation("bad host header")


# A URLconf of this module's own, for views that fail on purpose.
urlpatterns = [
    path("boom", _boom),
    path("forbidden", _forbidden),
    path("suspicious", _suspicious),
]
handler400 = "orgportal.ops.error_400"
handler403 = "orgportal.ops.error_403"
handler404 = "orgportal.ops.error_404"
handler500 = "orgportal.ops.error_500"


@pytest.fixture
def sandbox():
    from sandbox.server import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0, org_key="k", seed=1)
    server.start()
    yield server
    server.stop()


def _requests_total(client, *, route, status="2xx", method="GET"):
    text = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "orgportal_http_requests_total" and sample.labels == {
                "method": method,
                "route": route,
                "status": status,
            }:
                return sample.value
    return 0.0


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_every_response_carries_a_request_id(client):
    fresh = client.get("/healthz")
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})

    assert len(fresh["X-Request-ID"]) == 32
    assert echoed["X-Request-ID"] == "abc-123"
    assert replaced["X-Request-ID"] != "bad id\nwith newline"
    assert len(replaced["X-Request-ID"]) == 32


async def test_async_requests_pass_through_the_middleware(async_client):
    response = await async_client.get("/healthz")

    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32


def readyz(client, settings, org_url: str, org_key: str):
    """GET /readyz with the Organization API at `org_url`, called with `org_key`."""
    settings.UPSTREAM_ORG_URL = org_url
    settings.UPSTREAM_ORG_KEY = org_key
    return client.get("/readyz")


@pytest.mark.django_db
def test_readyz_is_ready_against_the_sandbox(client, settings, sandbox):
    response = readyz(client, settings, sandbox.url, "k")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "redis": "ok" if settings.REDIS_URL else "not configured",
            "upstream": "ok",
        },
    }


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_upstream(client, settings, closed_port):
    response = readyz(
        client, settings, f"http://127.0.0.1:{closed_port}", "org-key-never-shown"
    )

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["upstream"].startswith("error: ")
    assert "org-key-never-shown" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_reports_a_refused_organization_key(client, settings, sandbox):
    response = readyz(client, settings, sandbox.url, "wrong-key")

    assert response.status_code == 503
    assert response.json()["checks"]["upstream"].startswith("error: HTTP 4")
    assert "wrong-key" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_redis(client, settings, sandbox, closed_port):
    settings.REDIS_URL = f"redis://:redis-password@127.0.0.1:{closed_port}/0"

    response = readyz(client, settings, sandbox.url, "k")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("error: ")
    assert checks["upstream"] == "ok"
    assert "redis-password" not in response.content.decode()


def test_metrics_count_requests_by_route_pattern(client):
    before = _requests_total(client, route="healthz")

    client.get("/healthz")
    client.get("/no/such/page/8f3a1c")

    assert _requests_total(client, route="healthz") == before + 1
    assert _requests_total(client, route="unmatched", status="4xx") >= 1
    metrics = client.get("/metrics")
    assert metrics["Content-Type"].startswith("text/plain")
    assert "orgportal_http_request_seconds_bucket" in metrics.content.decode()
    assert "8f3a1c" not in metrics.content.decode()


def test_unknown_path_is_a_json_404(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "The requested resource was not found.",
        "code": "NOT_FOUND",
        "details": {},
    }


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/boom", 500, "INTERNAL_ERROR"),
        ("/forbidden", 403, "FORBIDDEN"),
        ("/suspicious", 400, "BAD_REQUEST"),
    ],
)
def test_failing_views_answer_json_errors(settings, url, status, code):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)

    response = client.get(url)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["details"] == {}
    assert "secret detail" not in response.content.decode()


# --- who may read /metrics -----------------------------------------------------------


def test_metrics_are_refused_to_everyone_when_nothing_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []

    response = client.get("/metrics")

    assert response.status_code == 403
    assert response.json()["code"] == "METRICS_DISABLED"
    assert "orgportal_http_requests_total" not in response.content.decode()


def scrape(client, addr: str, **headers):
    """GET /metrics from the address `addr`."""
    return client.get("/metrics", REMOTE_ADDR=addr, headers=headers)


def test_metrics_need_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret-7"
    settings.METRICS_ALLOWED_IPS = []

    missing = scrape(client, "192.0.2.10")
    wrong = scrape(client, "192.0.2.10", Authorization="Bearer scrape-secret-8")
    right = scrape(client, "192.0.2.10", Authorization="Bearer scrape-secret-7")

    assert missing.status_code == wrong.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert right.status_code == 200
    assert "orgportal_http_requests_total" in right.content.decode()


def test_metrics_answer_only_addresses_in_the_allow_list(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    settings.TRUSTED_PROXIES = ["10.99.0.1/32"]
    forwarded = {"X-Forwarded-For": "10.20.3.4"}

    inside = scrape(client, "10.20.3.4")
    outside = scrape(client, "127.0.0.1")
    via_proxy = scrape(client, "10.99.0.1", **forwarded)
    spoofed = scrape(client, "192.0.2.10", **forwarded)

    assert inside.status_code == 200
    assert via_proxy.status_code == 200
    assert outside.status_code == spoofed.status_code == 403


def test_metrics_with_token_and_allow_list_need_both(client, settings):
    settings.METRICS_TOKEN = "scrape-secret-7"
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    auth = {"Authorization": "Bearer scrape-secret-7"}

    assert scrape(client, "10.20.3.4", **auth).status_code == 200
    assert scrape(client, "10.21.3.4", **auth).status_code == 403
    assert scrape(client, "10.20.3.4").status_code == 401


def test_the_site_root_is_counted_under_its_own_route(client):
    before_root = _requests_total(client, route="/", status="3xx")
    before_unmatched = _requests_total(client, route="unmatched", status="3xx")

    response = client.get("/")  # signed out: sent to the sign-in page

    assert response.status_code == 302
    assert _requests_total(client, route="/", status="3xx") == before_root + 1
    assert _requests_total(client, route="unmatched", status="3xx") == before_unmatched
