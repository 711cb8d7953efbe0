"""The grid worker's day on a phone: 即报即办 with a photo, drafts, no network, a busy server.

Each test signs in as `grid` at a phone viewport in real Chromium, with the service worker of
the built pages allowed, and checks what it did through the API or the database.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Page,
    Route,
    ViewportSize,
    expect,
)
from sqlmodel import Session, col, func, select

from dispatch.events.models import Event
from tests.e2e.conftest import PASSWORD, ResponseWatch, Service
from tests.helpers import demo_grid_point
from tests.service.test_error_words import english_left
from tests.service.test_loop import XINSHI

PHONE: ViewportSize = {"width": 390, "height": 844}
SHELL_CACHED = """async () => {
  const reg = await navigator.serviceWorker.ready;
  const cache = await caches.open("sipingtai-shell-v1");
  const shell = await cache.match("/index.html");
  return !!reg.active && !!navigator.serviceWorker.controller && !!shell;
}"""

CACHED_PATHS = """async () => {
  const paths = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) paths.push(new URL(request.url).pathname);
  }
  return paths;
}"""
OLD_TEXT = "东村三组路口垃圾堆放多日无人清运"

pytestmark = pytest.mark.slow


def photo(name: str, colour: tuple[int, int, int]) -> FilePayload:
    """Return a small PNG for an <input type=file>."""
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, format="PNG")
    return {"name": name, "mimeType": "image/png", "buffer": out.getvalue()}


class Phone:
    """The grid worker's phone: one browser context, signed in, on the report page."""

    def __init__(
        self, browser: Browser, service: Service, responses: ResponseWatch, **extra: Any
    ) -> None:
        self.service = service
        self.context: BrowserContext = browser.new_context(
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            service_workers="allow",
            **extra,
        )
        self.context.set_default_timeout(15_000)
        responses.attach(self.context)
        self.page: Page = self.context.new_page()
        self.page.goto(f"{service.url}/#/login")
        self.page.get_by_test_id("login-username").fill("grid")
        self.page.get_by_test_id("login-password").fill(PASSWORD)
        self.page.get_by_test_id("login-submit").click()
        expect(self.page).to_have_url(re.compile(r"#/report$"))

    def located(self) -> None:
        """Wait until the point is located in a grid; confirm it when near a boundary."""
        expect(self.page.get_by_test_id("locate-result")).to_have_attribute("data-state", "ok")
        if self.page.get_by_test_id("near-boundary").is_visible():
            self.page.get_by_test_id("near-boundary-confirm").check()

    def click_map(self) -> None:
        """Place the point in the middle of the framed township."""
        report_map = self.page.get_by_test_id("report-map")
        expect(report_map).to_have_attribute("data-framed", "1")
        report_map.click()
        self.located()

    def submit(self) -> int:
        """Send the open report; return the event the page then shows."""
        self.page.get_by_test_id("submit").click()
        expect(self.page).to_have_url(re.compile(r"#/event/\d+$"))
        return int(self.page.url.rsplit("/", 1)[1])

    def event(self, event_id: int) -> dict[str, Any]:
        """Read an event through the API as the grid worker."""
        loop = self.service.loop
        response = loop.client.get(f"/api/events/{event_id}", headers=loop.token("grid"))
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def phone(browser: Browser, service: Service, responses: ResponseWatch) -> Iterator[Phone]:
    """Sign the grid worker in on a phone."""
    opened = Phone(browser, service, responses)
    yield opened
    opened.context.close()


def until(page: Page, script: str, timeout_s: float = 15.0) -> None:
    """Wait until a script is true in the page (wait_for_function would eval under the CSP)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"never true: {script}"
        page.wait_for_timeout(200)


def photos_shown(page: Page) -> list[str]:
    """Return the names of the event page's photos, once each has loaded."""
    shown = page.get_by_test_id("event-photo")
    expect(shown.first).to_be_visible()
    until(
        page,
        "() => [...document.querySelectorAll('[data-testid=event-photo]')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
    )
    return [str(shown.nth(i).get_attribute("alt")) for i in range(shown.count())]


def test_a_report_handled_on_the_spot_waits_for_verification_with_its_photo(
    phone: Phone, screenshots: Any
) -> None:
    page = phone.page
    phone.click_map()
    page.get_by_test_id("description").fill("菜市场门口有流动摊贩占道卖菜，行人只能走机动车道")
    page.get_by_test_id("on-site").check()
    expect(page.get_by_test_id("on-site-fields")).to_be_visible()
    page.get_by_test_id("on-site-note").fill("已劝离摊贩，人行道恢复通行")
    # Handled on the spot without a photo: nothing to show the verifier, so no sending.
    expect(page.get_by_test_id("submit")).to_be_disabled()
    expect(page.get_by_test_id("submit-hint")).to_have_text(
        "即报即办须上传至少一张现场照片作为处置凭证"
    )
    page.get_by_test_id("photos").set_input_files(photo("劝离后.png", (40, 160, 90)))
    expect(page.get_by_test_id("photo-preview")).to_have_count(1)
    expect(page.get_by_test_id("submit")).to_be_enabled()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    screenshots(page, "1-on-site")

    event_id = phone.submit()
    expect(page.get_by_test_id("event-status")).to_have_attribute("data-status", "resolved")
    expect(page.get_by_test_id("event-status")).to_contain_text("待核查")
    assert photos_shown(page) == ["劝离后.png"]
    expect(page.locator("[data-testid=timeline-step][data-action=handle_on_site]")).to_contain_text(
        "已劝离摊贩，人行道恢复通行"
    )
    screenshots(page, "2-event")
    detail = phone.event(event_id)
    assert detail["status"] == "resolved" and detail["handled_on_site"] is True
    assert [a["file_name"] for a in detail["attachments"]] == ["劝离后.png"]


def test_two_drafts_keep_their_photos_across_a_reload_and_each_sends_its_own(
    phone: Phone, screenshots: Any
) -> None:
    page = phone.page
    first = str(uuid4())
    lon, lat = demo_grid_point(XINSHI, nth=3)
    old_draft: dict[str, object] = {
        "client_id": first,
        "reported_at": None,
        "lon": lon,
        "lat": lat,
        "crs": "wgs84",
        "description": OLD_TEXT,
        "matter_code": None,
        "urgent": False,
        "address": "",
    }
    # The single localStorage draft of an older page becomes the first draft in IndexedDB.
    page.evaluate("d => localStorage.setItem('sipingtai.draft.grid', JSON.stringify(d))", old_draft)
    page.reload()
    phone.located()
    expect(page.get_by_test_id("description")).to_have_value(OLD_TEXT)
    assert page.evaluate("localStorage.getItem('sipingtai.draft.grid')") is None
    page.get_by_test_id("photos").set_input_files(photo("垃圾.png", (120, 90, 30)))
    expect(page.locator(f"[data-testid=report-item][data-client-id='{first}']")).to_have_attribute(
        "data-photos", "1"
    )

    page.get_by_test_id("draft-new").click()
    expect(page.get_by_test_id("description")).to_have_value("")
    expect(page.get_by_test_id("photo-preview")).to_have_count(0)
    phone.click_map()
    page.get_by_test_id("description").fill("菜市场门口有流动摊贩占道卖菜")
    page.get_by_test_id("photos").set_input_files(photo("摊贩.png", (200, 40, 40)))
    items = page.get_by_test_id("report-item")
    expect(items).to_have_count(2)
    expect(page.locator("[data-testid=report-item][data-photos='1']")).to_have_count(2)

    page.reload()
    expect(
        page.locator("[data-testid=report-item][data-state=draft][data-photos='1']")
    ).to_have_count(2)
    expect(page.get_by_test_id("report-state").first).to_have_text("草稿")
    expect(page.get_by_test_id("description")).to_have_value("菜市场门口有流动摊贩占道卖菜")
    expect(page.get_by_test_id("photo-preview")).to_have_attribute("data-name", "摊贩.png")
    screenshots(page, "1-two-drafts")
    phone.located()
    second_event = phone.submit()
    assert photos_shown(page) == ["摊贩.png"]

    page.goto(f"{phone.service.url}/#/report")
    page.locator(
        f"[data-testid=report-item][data-client-id='{first}'] [data-testid=report-open]"
    ).click()
    expect(page.get_by_test_id("description")).to_have_value(OLD_TEXT)
    expect(page.get_by_test_id("photo-preview")).to_have_attribute("data-name", "垃圾.png")
    phone.located()
    first_event = phone.submit()
    assert photos_shown(page) == ["垃圾.png"]

    page.goto(f"{phone.service.url}/#/report")
    expect(page.locator("[data-testid=report-item][data-state=sent]")).to_have_count(2)
    expect(page.get_by_test_id("report-state").first).to_have_text("已发送")
    screenshots(page, "2-sent")
    for event_id, name in ((first_event, "垃圾.png"), (second_event, "摊贩.png")):
        assert [a["file_name"] for a in phone.event(event_id)["attachments"]] == [name]
    assert phone.event(first_event)["client_id"] == first


def events_with(service: Service, client_id: str) -> int:
    """Count the events stored under a client id."""
    with Session(service.loop.engine) as session:
        return session.exec(
            select(func.count()).select_from(Event).where(col(Event.client_id) == client_id)
        ).one()


def test_a_lost_answer_is_sent_again_under_the_same_client_id_and_makes_one_event(
    phone: Phone,
) -> None:
    page = phone.page
    sent: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or "{}")["client_id"])
        answer = route.fetch()  # the server stores the event ...
        if len(sent) == 1:
            route.abort()  # ... but its answer never reaches the phone
        else:
            route.fulfill(response=answer)

    page.route("**/api/events", lose_the_first_answer)
    phone.click_map()
    page.get_by_test_id("description").fill("小区门口井盖缺失，夜间有人险些踩空")
    page.get_by_test_id("photos").set_input_files(photo("井盖.png", (90, 90, 90)))
    event_id = phone.submit()
    assert len(sent) == 2 and sent[0] == sent[1]
    assert events_with(phone.service, sent[0]) == 1
    assert [a["file_name"] for a in phone.event(event_id)["attachments"]] == ["井盖.png"]


def test_the_report_page_opens_offline_and_sends_a_queued_report_once(
    phone: Phone, screenshots: Any
) -> None:
    page, service = phone.page, phone.service
    expect(page.get_by_test_id("report-map")).to_have_attribute("data-framed", "1")
    until(page, SHELL_CACHED)

    page.wait_for_timeout(1_100)  # the cached copy's Date is now over a second old
    phone.context.set_offline(True)
    asked = time.time()
    shell = page.reload()
    assert shell is not None and shell.from_service_worker
    assert parsedate_to_datetime(shell.headers["date"]).timestamp() <= asked - 1  # the cache's
    expect(page.get_by_test_id("net-status")).to_have_attribute("data-state", "offline")
    expect(page.get_by_test_id("whoami")).to_be_visible()
    # The township's outline from the last visit frames the map: a tap places the point.
    expect(page.get_by_test_id("report-map")).to_have_attribute("data-framed", "1")
    page.get_by_test_id("report-map").click()
    expect(page.get_by_test_id("locate-result")).to_have_attribute("data-state", "offline")
    expect(page.get_by_test_id("coords")).to_contain_text("WGS84")
    page.get_by_test_id("description").fill("河道边有人倾倒建筑垃圾")
    page.get_by_test_id("address").fill("新市镇河滨路")
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("submit-status")).to_have_attribute("data-state", "queued")
    queued = page.locator("[data-testid=report-item][data-state=queued]")
    expect(queued).to_have_count(1)
    expect(queued.get_by_test_id("report-state")).to_have_text("待发送")
    client_id = str(queued.get_attribute("data-client-id"))
    screenshots(page, "1-queued-offline")
    assert events_with(service, client_id) == 0

    phone.context.set_offline(False)
    sent = page.locator(f"[data-testid=report-item][data-client-id='{client_id}']")
    expect(sent).to_have_attribute("data-state", "sent", timeout=30_000)
    expect(sent.get_by_test_id("report-state")).to_have_text("已发送")
    expect(page.get_by_test_id("submit-status")).to_have_attribute("data-state", "sent")
    expect(page.get_by_test_id("map-status")).to_be_hidden()  # the outlines came from the API
    screenshots(page, "2-sent-online")
    page.reload()
    expect(sent).to_have_attribute("data-state", "sent")
    assert events_with(service, client_id) == 1
    event = phone.event(int(str(sent.get_attribute("data-event-id"))))
    assert event["client_id"] == client_id and event["address"] == "新市镇河滨路"
    stored = page.evaluate(
        "id => new Promise(r => { const q = indexedDB.open('sipingtai'); q.onsuccess = () =>"
        " { const g = q.result.transaction('reports').objectStore('reports').get(id);"
        " g.onsuccess = () => r(JSON.stringify(g.result)); }; })",
        client_id,
    )
    assert json.loads(stored)["state"] == "sent"
    # The worker keeps the app shell only: no API answer (personal data, tokens), no photo.
    cached = page.evaluate(CACHED_PATHS)
    assert "/index.html" in cached and any(p.startswith("/assets/") for p in cached)
    assert all(p == "/index.html" or p.startswith("/assets/") for p in cached), cached


def test_without_indexeddb_the_page_still_reports_and_says_drafts_are_not_kept(
    browser: Browser, service: Service, responses: ResponseWatch
) -> None:
    phone = Phone(browser, service, responses)
    try:
        phone.context.add_init_script(
            "indexedDB.open = () => { throw new DOMException('refused', 'SecurityError'); };"
        )
        phone.page.reload()
        expect(phone.page.get_by_test_id("draft-storage")).to_contain_text("草稿只保留到关闭页面")
        phone.click_map()
        phone.page.get_by_test_id("description").fill("路灯不亮已有三天")
        event_id = phone.submit()
        assert phone.event(event_id)["description"] == "路灯不亮已有三天"
    finally:
        phone.context.close()


OVERLOADED = {"detail": {"code": "overloaded", "message": "服务繁忙，请稍后重试"}}
BUSY_TEXT = re.compile(r"^服务繁忙，约 \d+ 秒后自动重试$")
RETRY_AFTER_S = 2
SPACED_S = RETRY_AFTER_S - 0.1  # the handler's clock against the page's: a little slack


def turn_away(route: Route) -> None:
    """Answer as an intake that sheds load: 503 at once, come back in RETRY_AFTER_S seconds."""
    route.fulfill(status=503, headers={"Retry-After": str(RETRY_AFTER_S)}, json=OVERLOADED)


def sent_client_id(route: Route) -> str:
    """Return the client id a POST /api/events carries."""
    return str(json.loads(route.request.post_data or "{}")["client_id"])


def assert_spaced(times: list[float], turned_away: int) -> None:
    """Assert that no attempt came sooner than Retry-After after a 503."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= SPACED_S for gap in gaps[:turned_away]), gaps


def test_a_busy_server_is_waited_out_and_the_report_is_sent_once(
    phone: Phone, responses: ResponseWatch, screenshots: Any
) -> None:
    page = phone.page
    responses.allow(r"/api/events$", 503)
    attempts: list[tuple[float, str]] = []
    stored: list[int] = []

    def busy_twice(route: Route) -> None:
        attempts.append((time.monotonic(), sent_client_id(route)))
        if len(attempts) == 1:
            turn_away(route)  # shed before it reached the database
        elif len(attempts) == 2:
            answer = route.fetch()  # stored this time, but the 201 is lost to a 503 on the way
            assert answer.status == 201, answer.text()
            stored.append(int(answer.json()["id"]))
            turn_away(route)
        else:
            route.fulfill(response=route.fetch())

    page.route("**/api/events", busy_twice)
    phone.click_map()
    page.get_by_test_id("description").fill("路口信号灯倒伏，压在非机动车道上")
    page.get_by_test_id("submit").click()
    status = page.get_by_test_id("submit-status")
    expect(status).to_have_attribute("data-state", "retrying")
    expect(status).to_have_text(BUSY_TEXT)
    item = page.locator("[data-testid=report-item][data-state=queued]")
    expect(item.get_by_test_id("report-state")).to_have_text("待发送")
    expect(item.get_by_test_id("report-error")).to_have_text(BUSY_TEXT)
    assert english_left(status.inner_text() + item.inner_text()) == ""
    screenshots(page, "busy")

    expect(page).to_have_url(re.compile(r"#/event/\d+$"), timeout=30_000)
    event_id = int(page.url.rsplit("/", 1)[1])
    assert len(attempts) == 3, attempts
    client_id = attempts[0][1]
    assert all(sent == client_id for _, sent in attempts)
    assert_spaced([at for at, _ in attempts], turned_away=2)
    assert stored == [event_id] and events_with(phone.service, client_id) == 1

    page.goto(f"{phone.service.url}/#/report")
    mine = page.locator(f"[data-testid=report-item][data-client-id='{client_id}']")
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-state", "sent")
    expect(mine).to_have_attribute("data-event-id", str(event_id))
    expect(mine.get_by_test_id("report-state")).to_have_text("已发送")
    expect(mine.get_by_test_id("report-error")).to_have_count(0)


def queued_report(description: str, nth: int, minutes_ago: int) -> dict[str, Any]:
    """Return a 待发送 report as the page keeps it in IndexedDB."""
    lon, lat = demo_grid_point(XINSHI, nth=nth)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 * minutes_ago))
    return {
        "client_id": str(uuid4()), "username": "grid", "state": "queued", "updated_at": at,
        "reported_at": at, "lon": lon, "lat": lat, "crs": "wgs84", "description": description,
        "matter_code": None, "urgent": False, "address": "", "handled_on_site": False,
        "on_site_note": "", "photos": [], "event_id": None, "error": None,
    }  # fmt: skip


PUT_REPORTS = """reports => new Promise((resolve, reject) => {
  const q = indexedDB.open('sipingtai');
  q.onsuccess = () => {
    const tx = q.result.transaction('reports', 'readwrite');
    for (const r of reports) tx.objectStore('reports').put(r);
    tx.oncomplete = () => resolve(true);
    tx.onerror = () => reject(tx.error);
  };
})"""


def test_the_queue_waits_out_a_busy_server_before_sending_any_other_report(
    phone: Phone, responses: ResponseWatch
) -> None:
    page = phone.page
    responses.allow(r"/api/events$", 503)
    attempts: list[tuple[float, str]] = []

    def busy_twice(route: Route) -> None:
        attempts.append((time.monotonic(), sent_client_id(route)))
        if len(attempts) <= 2:
            turn_away(route)
        else:
            route.fulfill(response=route.fetch())

    page.route("**/api/events", busy_twice)
    reports = [
        queued_report("公园健身器材断裂，有划伤风险", nth=1, minutes_ago=2),
        queued_report("小区化粪池满溢，污水流到路面", nth=2, minutes_ago=1),
    ]
    expect(page.get_by_test_id("report-map")).to_have_attribute("data-framed", "1")
    page.evaluate(PUT_REPORTS, reports)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the outbox sends the queue now
    queued = page.locator("[data-testid=report-item][data-state=queued]")
    turned = queued.filter(has=page.get_by_test_id("report-error"))
    expect(turned.get_by_test_id("report-error")).to_have_text(BUSY_TEXT)
    # Sending the other one now, or the network coming back, waits for the server too.
    other = queued.filter(has_not=page.get_by_test_id("report-error"))
    other_id = str(other.get_attribute("data-client-id"))
    other.get_by_test_id("report-send").click()
    page.evaluate("window.dispatchEvent(new Event('online'))")
    waiting = page.locator(f"[data-testid=report-item][data-client-id='{other_id}']")
    expect(waiting.get_by_test_id("report-error")).to_have_text(BUSY_TEXT)

    sent = page.locator("[data-testid=report-item][data-state=sent]")
    expect(sent).to_have_count(2, timeout=30_000)
    expect(sent.get_by_test_id("report-state")).to_have_text(["已发送", "已发送"])
    assert len(attempts) == 4, attempts
    assert_spaced([at for at, _ in attempts], turned_away=2)
    for report in reports:
        assert events_with(phone.service, report["client_id"]) == 1
    assert sorted(client for _, client in attempts[2:]) == sorted(r["client_id"] for r in reports)
