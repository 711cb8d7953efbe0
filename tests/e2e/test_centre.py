"""The command centre's day in real Chromium: the list of events and what opens it, the map's
township names, the feed after a reload, and the re-dispatch picker."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import update
from sqlmodel import Session, col

from dispatch.core.clock import utcnow
from dispatch.events.models import Assignment
from tests.e2e.conftest import PASSWORD, Service
from tests.e2e.test_pages import PHONE, SignIn, live, no_sideways_scroll
from tests.e2e.test_pages import sign_in as sign_in  # the fixture
from tests.helpers import demo_grid_point
from tests.service.test_loop import XINSHI, report_body

pytestmark = pytest.mark.slow

SHAHE = "320999006"  # 沙河镇
TOWNSHIPS = 12  # in the demo county


def api(service: Service, user: str) -> httpx.Client:
    """Return an HTTP client signed in as a demo user."""
    token = httpx.post(
        f"{service.url}/api/auth/token", data={"username": user, "password": PASSWORD}
    ).json()["access_token"]
    return httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def report(grid: httpx.Client, township: str = XINSHI, **body: Any) -> int:
    """Report an event as the grid worker; return its id."""
    lon, lat = demo_grid_point(township, nth=2)
    created = grid.post("/api/events", json=report_body(lon=lon, lat=lat, **body))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def routed(client: httpx.Client, event_id: int) -> dict[str, Any]:
    """Wait until the worker has routed an event (the client may read it); return its detail."""
    for _ in range(100):
        response = client.get(f"/api/events/{event_id}")  # a department sees it once routed
        detail: dict[str, Any] = response.json()
        if response.status_code == 200 and detail["status"] != "reported":
            return detail
        time.sleep(0.1)
    raise AssertionError(f"event {event_id} was not routed")


def shows_rows(page: Page, ids: list[int], timeout: float = 10.0) -> bool:
    """Wait until the list shows exactly these event ids, top to bottom (a count alone can be
    the previous filter's, still on screen while the next one loads)."""
    deadline = time.monotonic() + timeout
    while rows(page) != ids:
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(50)
    return True


def rows(page: Page) -> list[int]:
    """Return the event ids of the list's rows, top to bottom."""
    return [
        int(x)
        for x in page.locator("[data-testid=events-row]").evaluate_all(
            "rs => rs.map(r => r.dataset.eventId)"
        )
    ]


def test_the_list_filters_pages_and_keeps_its_filters_in_the_link(
    sign_in: SignIn, service: Service, screenshots: Any
) -> None:
    word = f"标记{uuid4().hex[:6]}"
    with api(service, "grid") as grid:
        here = report(grid, description=f"{word} 菜场门口占道经营", address="新市街 12 号")
        there = report(grid, SHAHE, matter_code="B-004", description=f"{word} 无照经营的小店")
        many = [report(grid, description=f"{word} 第{i}处占道") for i in range(20)]
    centre = sign_in("centre")
    centre.get_by_test_id("nav-events").click()
    expect(centre).to_have_url(re.compile(r"#/events$"))
    centre.get_by_test_id("filter-q").fill(word)
    count = centre.get_by_test_id("events-count")
    expect(count).to_have_attribute("data-count", "22")
    assert len(rows(centre)) == 20  # one page
    expect(centre.get_by_test_id("events-page")).to_have_attribute("data-page", "1")
    centre.get_by_test_id("events-next").click()
    expect(centre.get_by_test_id("events-page")).to_have_attribute("data-page", "2")
    expect(centre.locator("[data-testid=events-row]")).to_have_count(2)
    assert rows(centre) == [there, here] and rows(centre) not in many

    centre.get_by_test_id("filter-township").select_option(SHAHE)
    expect(count).to_have_attribute("data-count", "1")
    assert shows_rows(centre, [there]), rows(centre)
    expect(centre.locator("[data-testid=events-row-township]")).to_have_text(["沙河镇"])
    assert f"township={SHAHE}" in centre.url and "page=" not in centre.url
    centre.get_by_test_id("filter-township").select_option("")
    centre.get_by_test_id("filter-q").fill(f"{word} 菜场")
    expect(count).to_have_attribute("data-count", "1")
    assert shows_rows(centre, [here]), rows(centre)
    centre.get_by_test_id("filter-q").fill(word)
    expect(count).to_have_attribute("data-count", "22")
    centre.get_by_test_id("filter-q").fill("新市街 12 号")  # the address
    assert shows_rows(centre, [here]), rows(centre)

    # Matter, platform and status: 无照经营 is 市场监管's; nothing of it is closed.
    centre.get_by_test_id("filter-q").fill(word)
    expect(count).to_have_attribute("data-count", "22")
    centre.get_by_test_id("filter-platform").select_option("shichang")
    expect(count).to_have_attribute("data-count", "1")
    assert shows_rows(centre, [there]), rows(centre)
    centre.get_by_test_id("filter-status-closed").check()
    expect(count).to_have_attribute("data-count", "0")
    expect(centre.get_by_test_id("events-empty")).to_be_visible()
    centre.get_by_test_id("filter-status-closed").uncheck()
    centre.get_by_test_id("filter-matter").select_option("B-004")
    expect(count).to_have_attribute("data-count", "1")
    link = centre.url
    screenshots(centre, "1-filtered")

    # The link opens the same list; a reload keeps it.
    centre.reload()
    expect(count).to_have_attribute("data-count", "1")
    expect(centre.get_by_test_id("filter-q")).to_have_value(word)
    expect(centre.get_by_test_id("filter-platform")).to_have_value("shichang")
    expect(centre.get_by_test_id("filter-matter")).to_have_value("B-004")
    other = sign_in("admin")
    other.goto(link)
    expect(other.get_by_test_id("events-count")).to_have_attribute("data-count", "1")
    assert rows(other) == [there]
    other.locator(
        f"[data-testid=events-row][data-event-id='{there}'] [data-testid=event-link]"
    ).click()
    expect(other).to_have_url(re.compile(rf"#/event/{there}$"))

    # A period in Beijing days: today holds them, yesterday none.
    centre.get_by_test_id("filter-reset").click()
    expect(centre).to_have_url(re.compile(r"#/events$"))
    centre.get_by_test_id("filter-q").fill(word)
    today = centre.evaluate(
        "new Intl.DateTimeFormat('en-CA', {timeZone: 'Asia/Shanghai'}).format(new Date())"
    )
    centre.get_by_test_id("filter-since").fill(today)
    centre.get_by_test_id("filter-until").fill(today)
    expect(count).to_have_attribute("data-count", "22")
    centre.get_by_test_id("filter-until").fill("2026-01-01")
    centre.get_by_test_id("filter-since").fill("2026-01-01")
    expect(count).to_have_attribute("data-count", "0")
    screenshots(centre, "2-period")


def test_the_list_fits_a_phone(sign_in: SignIn, service: Service, screenshots: Any) -> None:
    with api(service, "grid") as grid:
        event_id = report(grid, description="一段很长的描述" * 20, address="新市镇东村三组 12 号")
    centre = sign_in("centre", phone=True)
    centre.goto(centre.url.split("#")[0] + "#/events")
    expect(centre.locator(f"[data-testid=events-row][data-event-id='{event_id}']")).to_have_count(1)
    no_sideways_scroll(centre)
    screenshots(centre, "phone")


def test_a_grid_worker_cannot_open_the_list(sign_in: SignIn) -> None:
    grid = sign_in("grid", phone=True)
    grid.goto(grid.url.split("#")[0] + "#/events")
    expect(grid.get_by_test_id("page-forbidden")).to_have_count(1)
    expect(grid.get_by_test_id("page-forbidden")).to_contain_text("无权查看事件列表")
    expect(grid.get_by_test_id("events-table")).to_have_count(0)
    expect(grid.get_by_test_id("nav-events")).to_have_count(0)


def test_counters_and_areas_click_through_to_the_list(
    sign_in: SignIn, service: Service, screenshots: Any
) -> None:
    with api(service, "grid") as grid:
        late = report(grid)
        there = report(grid, SHAHE, matter_code="B-004", description="无照经营的小店")
    with api(service, "centre") as centre_api:
        routed(centre_api, late)
        routed(centre_api, there)
    with Session(service.loop.engine) as session:
        session.exec(
            update(Assignment)
            .where(col(Assignment.event_id) == late, col(Assignment.role) == "lead")
            .values(sign_by=utcnow() - timedelta(hours=2))
        )
        session.commit()
    centre = sign_in("centre")
    live(centre)
    overdue = centre.get_by_test_id("counter-overdue")
    expect(overdue).not_to_have_attribute("data-count", "0")
    counted = overdue.get_attribute("data-count")
    centre.get_by_test_id("counter-overdue-link").click()
    expect(centre).to_have_url(re.compile(r"#/events\?overdue=true$"))
    expect(centre.get_by_test_id("filter-overdue")).to_have_value("true")
    # The board and the list count overdue by one rule.
    expect(centre.get_by_test_id("events-count")).to_have_attribute("data-count", str(counted))
    expect(centre.locator(f"[data-testid=events-row][data-event-id='{late}']")).to_have_count(1)
    assert there not in rows(centre)
    screenshots(centre, "1-overdue")

    centre.go_back()
    live(centre)
    centre.locator("[data-testid=count-by-township] [data-key='沙河镇'] a").click()
    expect(centre).to_have_url(re.compile(rf"township={SHAHE}"))
    expect(centre.locator(f"[data-testid=events-row][data-event-id='{there}']")).to_have_count(1)

    centre.go_back()
    live(centre)
    area = centre.locator(f"[data-testid=county-map] path[data-township-code='{SHAHE}']")
    expect(area).to_have_attribute("data-open", re.compile(r"[1-9]"))
    area.dispatch_event("click")
    expect(centre).to_have_url(re.compile(rf"#/events\?.*township={SHAHE}"))
    expect(centre.locator(f"[data-testid=events-row][data-event-id='{there}']")).to_have_count(1)
    townships = centre.locator("[data-testid=events-row-township]").all_inner_texts()
    assert townships and set(townships) == {"沙河镇"}, townships
    screenshots(centre, "2-township")


def test_the_map_names_every_township_on_a_phone_too(sign_in: SignIn, screenshots: Any) -> None:
    for phone in (False, True):
        centre = sign_in("centre", phone=phone)
        labels = centre.locator("[data-testid=county-map] [data-testid=map-label]")
        expect(labels).to_have_count(TOWNSHIPS)
        expect(centre.locator("[data-testid=map-label][data-code='320999004']")).to_have_text(
            "新市镇"
        )
        names = labels.all_inner_texts()
        assert "沙河镇" in names and "城关街道" in names
        size = labels.first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 12
        box = centre.get_by_test_id("county-map").bounding_box()
        label = centre.locator("[data-testid=map-label][data-code='320999004']").bounding_box()
        assert (
            box
            and label
            and box["x"] <= label["x"]
            and label["x"] + label["width"] <= (box["x"] + box["width"])
        )
        if phone:
            assert centre.viewport_size == PHONE
            no_sideways_scroll(centre)
        screenshots(centre, "phone" if phone else "desk")


def test_the_feed_keeps_its_history_after_a_reload(
    sign_in: SignIn, service: Service, screenshots: Any
) -> None:
    centre = sign_in("centre")
    live(centre)
    with api(service, "grid") as grid:
        first = report(grid)
    item = centre.locator(f"[data-testid=feed-item][data-event-id='{first}']")
    expect(item.and_(centre.locator("[data-type=routed]"))).to_have_count(1)
    seen = seqs(item)
    centre.reload()
    live(centre)
    expect(item.and_(centre.locator("[data-type=routed]"))).to_have_count(1)
    assert seqs(item) == seen  # the same entries, none lost, none doubled
    screenshots(centre, "1-reloaded")
    with api(service, "grid") as grid:
        second = report(grid)
    newest = centre.locator("[data-testid=feed-item]").first
    expect(newest).to_have_attribute("data-event-id", str(second))
    every = seqs(centre.locator("[data-testid=feed-item]"))
    assert every == sorted(every, reverse=True) and len(every) == len(set(every)), every
    assert seqs(item) == seen
    screenshots(centre, "2-live-again")


def seqs(items: Locator) -> list[int]:
    """Return the data-seq of feed items, top to bottom."""
    return [int(s) for s in items.evaluate_all("xs => xs.map(x => x.dataset.seq)")]


def test_the_redispatch_picker_puts_the_lists_lead_first_in_labelled_groups(
    sign_in: SignIn, service: Service, screenshots: Any
) -> None:
    with api(service, "grid") as grid:
        event_id = report(grid, matter_code="C-004")
    with api(service, "zhifa") as zhifa:
        lead = next(a for a in routed(zhifa, event_id)["assignments"] if a["role"] == "lead")
        returned = zhifa.post(
            f"/api/assignments/{lead['id']}/return",
            json={"reason": "摊贩为市场内经营户", "clause_code": "B-004"},
        )
        assert returned.status_code == 200, returned.text
    centre = sign_in("centre")
    live(centre)
    card = centre.get_by_test_id(f"returned-{lead['id']}")
    card.get_by_test_id("redispatch-toggle").click()
    picker = card.get_by_test_id("redispatch-form-department_id")
    expect(picker).to_have_attribute("data-loaded", "1")
    groups = picker.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups == ["清单牵头部门", "县级部门", "派驻机构", "乡镇平台"], groups
    first = picker.locator("option:not([value=''])").first
    expect(first).to_have_attribute("data-lead", "1")
    expect(first).to_contain_text("县综合行政执法局")
    kinds = (
        picker.locator("optgroup")
        .nth(1)
        .locator("option")
        .evaluate_all("os => [...new Set(os.map(o => o.dataset.kind))]")
    )
    assert kinds == ["county_department"]
    held = lead["department_name"]
    assert held not in picker.locator("option").all_inner_texts()  # not back to the holder
    screenshots(centre, "picker")
    picker.select_option(first.get_attribute("value"))
    card.get_by_test_id("redispatch-form-reason").fill("属综合执法局直接办理")
    card.get_by_test_id("redispatch-form-submit").click()
    expect(card).to_have_count(0)
