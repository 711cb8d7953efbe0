"""The pages and /docs under their Content-Security-Policy in real Chromium, and the demo warning.

Every page is loaded as its users load it, with the map's tiles from a configured tile server
(answered by the browser's router, so nothing leaves the machine); any CSP violation, any
request to another origin than the page's and the tile server's, fails the test.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect
from pydantic import SecretStr
from sqlmodel import Session

from dispatch.users.models import UserRole
from dispatch.users.service import create_user
from tests.e2e.conftest import PAGES, PASSWORD, ResponseWatch
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_loop import report_body

pytestmark = pytest.mark.slow

TILE_URL = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
TILE_HOST = re.compile(r"^https://[abc]\.tiles\.example\.org/")
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# Collected in the page before any script of its own runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture
def tiled(loop: Loop) -> Iterator[str]:
    """Serve the pages with a tile layer configured; return the base URL."""
    settings = loop.settings.model_copy(update={"frontend_dir": PAGES, "tile_url": TILE_URL})
    with LiveServer(settings) as live:
        yield live.url


class Visit:
    """A browser context that records CSP violations, console errors and foreign requests."""

    def __init__(self, browser: Browser, base: str, responses: ResponseWatch) -> None:
        self.base = base
        self.context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        self.context.set_default_timeout(15_000)
        self.context.add_init_script(WATCH_CSP)
        responses.attach(self.context)
        self.console: list[str] = []
        self.foreign: list[str] = []
        self.tiles = 0
        self.context.route(TILE_HOST, self._tile)
        self.context.on("request", self._request)

    def _tile(self, route: Route) -> None:
        self.tiles += 1
        route.fulfill(status=200, content_type="image/png", body=PNG_1PX)

    def _request(self, request: Any) -> None:
        url: str = request.url
        own = url.startswith(self.base) or url.startswith(self.base.replace("http", "ws", 1))
        if not own and not TILE_HOST.match(url) and not url.startswith("data:"):
            self.foreign.append(url)

    def page(self) -> Page:
        """Open a page whose console errors are recorded."""
        page = self.context.new_page()
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        return page

    def violations(self, page: Page) -> list[str]:
        """Return the CSP violations the page reported, and CSP errors on the console."""
        reported: list[str] = page.evaluate("window.__csp")
        return reported + [m for m in self.console if "Content Security Policy" in m]


@pytest.fixture
def visit(browser: Browser, tiled: str, responses: ResponseWatch) -> Iterator[Visit]:
    """Open a recording browser context on the tiled service."""
    # No worker runs beside this server, so the county board's health check is a 503.
    responses.allow(r"/api/health$", 503)
    seen = Visit(browser, tiled, responses)
    yield seen
    seen.context.close()


def sign_in(page: Page, base: str, username: str) -> None:
    """Sign in on the login page as a demo user."""
    page.goto(f"{base}/#/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).not_to_have_url(re.compile(r"#/login$"))


@pytest.mark.parametrize(
    ("username", "landing", "has_map"),
    [
        ("centre", "county", True),
        ("township", "township", False),
        ("zhifa", "department", False),
        ("grid", "report", True),
        ("admin", "admin/users", False),
    ],
)
def test_each_page_runs_under_its_csp_with_tiles(
    visit: Visit, username: str, landing: str, has_map: bool
) -> None:
    page = visit.page()
    sign_in(page, visit.base, username)
    expect(page).to_have_url(re.compile(rf"#/{landing}$"))
    if landing.startswith("admin/"):
        expect(page.locator("[data-testid=user-list] article").first).to_be_visible()
        page.get_by_test_id("nav-admin-reference").click()
        expect(page.get_by_test_id("reference-status")).to_have_attribute("data-loaded", "1")
    elif landing != "report":
        expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live")
    if has_map:
        page.locator(".leaflet-tile-loaded").first.wait_for(timeout=15_000)
        assert visit.tiles > 0
    if landing == "county":
        expect(page.get_by_test_id("map-label").first).to_be_visible()
        page.get_by_test_id("nav-events").click()
        expect(page.get_by_test_id("events-count")).not_to_have_attribute("data-count", "")
    assert visit.violations(page) == []
    assert visit.foreign == []


def test_the_event_page_runs_under_its_csp(visit: Visit, tiled: str) -> None:
    grid = httpx.post(
        f"{tiled}/api/auth/token", data={"username": "grid", "password": PASSWORD}
    ).json()["access_token"]
    created = httpx.post(
        f"{tiled}/api/events", json=report_body(), headers={"Authorization": f"Bearer {grid}"}
    )
    assert created.status_code == 201, created.text
    page = visit.page()
    sign_in(page, visit.base, "centre")
    page.goto(f"{visit.base}/#/event/{created.json()['id']}")
    expect(page.get_by_test_id("event-status")).to_be_visible()
    expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live")
    assert visit.violations(page) == []
    assert visit.foreign == []


def test_the_docs_load_swagger_ui_from_this_server_under_their_csp(visit: Visit) -> None:
    page = visit.page()
    page.goto(f"{visit.base}/docs")
    expect(page.locator(".swagger-ui .information-container")).to_contain_text("四平台")
    expect(page.locator(".opblock").first).to_be_visible()
    assert visit.violations(page) == []
    assert visit.foreign == []  # no CDN: county networks are often cut off from the internet


def test_the_websocket_url_carries_no_token(visit: Visit) -> None:
    page = visit.page()
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    sign_in(page, visit.base, "centre")
    expect(page.get_by_test_id("conn-status")).to_have_attribute("data-state", "live")
    assert opened and all("token" not in url and "eyJ" not in url for url in opened), opened


def test_the_login_page_warns_in_demo_mode(visit: Visit) -> None:
    page = visit.page()
    page.goto(f"{visit.base}/#/login")
    expect(page.get_by_test_id("demo-warning")).to_contain_text("演示模式：演示账号的密码是公开的")


def test_no_demo_warning_outside_demo_mode(
    browser: Browser, loop: Loop, responses: ResponseWatch
) -> None:
    settings = loop.settings.model_copy(
        update={
            "frontend_dir": PAGES,
            "demo": False,
            "secret_key": SecretStr("k8Jw2vQz9Lr4Xp7Tn3Yb6Hc1Fd5Gs0Ma"),
        }
    )
    with LiveServer(settings) as live:
        seen = Visit(browser, live.url, responses)
        try:
            page = seen.page()
            page.goto(f"{live.url}/#/login")
            expect(page.get_by_test_id("login-form")).to_be_visible()
            page.wait_for_load_state("networkidle")
            expect(page.get_by_test_id("demo-warning")).to_have_count(0)
        finally:
            seen.context.close()


def test_the_login_page_says_when_sign_in_is_locked(
    visit: Visit, loop: Loop, responses: ResponseWatch
) -> None:
    responses.allow(r"/api/auth/token$", 401)  # the wrong passwords this test types
    responses.allow(r"/api/auth/token$", 429)  # and the lockout they cause
    name = f"e2e-locked-{secrets.token_hex(3)}"
    with Session(loop.engine) as session:
        create_user(session, username=name, password=PASSWORD, role=UserRole.COMMAND_CENTRE)
        session.commit()
    page = visit.page()
    page.goto(f"{visit.base}/#/login")
    page.get_by_test_id("login-username").fill(name)
    error = page.get_by_test_id("login-error")
    # Five failures begin a 1 s lockout; on busy cores a try may land after it ended, so try
    # on: each failure after the fifth begins a longer one.
    for attempt in range(12):
        page.get_by_test_id("login-password").fill(f"wrong-{attempt}")
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-submit")).to_be_enabled()
        if "锁定" in error.inner_text():
            break
    expect(error).to_contain_text("登录失败次数过多，已暂时锁定")
    assert not re.search(r"[A-Za-z]", error.inner_text()), error.inner_text()
