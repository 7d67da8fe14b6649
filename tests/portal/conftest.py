import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

PASSWORD = "portal-test-pass-31"


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role == "superuser":
        user.is_superuser = user.is_staff = True
        user.save()
    elif role:
        # get_or_create: a transactional test empties the tables the migration filled
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def lockout_clock(frozen, monkeypatch):
    """The frozen clock, for django-axes' lockout too (it reads Django's clock)."""
    import axes.attempts
    import axes.handlers.proxy

    from orgportal import clock

    monkeypatch.setattr(axes.handlers.proxy, "now", clock.now)
    monkeypatch.setattr(axes.attempts, "now", clock.now)
    return frozen


@pytest.fixture
def owner(db):
    return make_user("olivia", "owner")


@pytest.fixture
def admin_user(db):
    return make_user("adam", "admin")


@pytest.fixture
def viewer(db):
    return make_user("vera", "viewer")


@pytest.fixture
def owner_client(owner):
    return signed_in(owner)


@pytest.fixture
def admin_client(admin_user):
    return signed_in(admin_user)


@pytest.fixture
def viewer_client(viewer):
    return signed_in(viewer)


# --- browser tests: Playwright driving Debian's Chromium ------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".run" / "test-screenshots"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Playwright's sync API keeps an event loop running
    in this thread while it is open, so Django's guard against ORM calls from async
    code is lifted for the module, and the loop ends with it (async tests elsewhere in
    the run need the thread free)."""
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def live_portal(transactional_db, sandbox, settings):
    """The real web process (uvicorn in a thread) serving the portal to the browser."""
    from orgportal.asgi import application
    from tests.marketdata.conftest import ThreadedServer

    settings.UPSTREAM_MARKET_URL = sandbox.url
    server = ThreadedServer(application).start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, live_portal, request):
    """A fresh browser page; on failure a screenshot is saved and its path printed."""
    context = browser.new_context(
        base_url=live_portal.url,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    failed = any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )
    if failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failed browser test: {path}")
    context.close()


def sign_in_browser(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
