"""The words a person reads, in real Chromium: suggestions above the floor, the timeline's
Chinese step names and display names, Beijing times, and each role's own pages and buttons."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from dispatch.core.clock import beijing_text, utcnow
from dispatch.supervision.alerts import raise_deadline_alerts
from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, sign_in  # noqa: F401  (the fixture)
from tests.service.test_error_words import english_left
from tests.service.test_loop import report_body


def parse_time(text: str) -> datetime:
    """Read an API time (ISO 8601, 'Z' or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


pytestmark = pytest.mark.slow

VAGUE = "村口那边有点情况，麻烦来看看"
CLEAR = "菜市场门口有人占道经营，堵塞人行道"


def test_the_report_page_offers_only_likely_matters(
    sign_in: SignIn,  # noqa: F811
    screenshots: Any,
) -> None:
    page = sign_in("grid", phone=True)
    page.get_by_test_id("description").fill(VAGUE)
    expect(page.get_by_test_id("suggestions-none")).to_have_text("请选择事项")
    expect(page.get_by_test_id("suggestion-chip")).to_have_count(0)
    screenshots(page, "vague")
    page.get_by_test_id("description").fill(CLEAR)
    chip = page.locator("[data-testid=suggestion-chip][data-code='C-004']")
    expect(chip).to_be_visible()
    expect(page.get_by_test_id("suggestions-none")).to_have_count(0)
    screenshots(page, "clear")


def routed_event(service: Service, **body: Any) -> dict[str, Any]:
    """Report as the grid worker through the API and wait until the worker has routed it."""
    client, grid = service.loop.client, service.loop.token("grid")
    created = client.post("/api/events", json=report_body(**body), headers=grid)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = client.get(f"/api/events/{event_id}", headers=grid).json()
        if detail["assignments"]:
            return dict(detail)
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} was not routed")


def test_the_timeline_names_every_step_and_person_in_chinese_and_beijing_time(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    detail = routed_event(service)
    with Session(service.loop.engine) as session:
        assert raise_deadline_alerts(session, now=utcnow() + timedelta(days=60))
        session.commit()
    page = sign_in("grid", phone=True)
    page.goto(f"{service.url}/#/event/{detail['id']}")
    timeline = page.get_by_test_id("timeline")
    overdue = timeline.locator("[data-testid=timeline-step][data-action=overdue]").first
    expect(overdue.get_by_test_id("step-name")).to_have_text("超期")
    reported = timeline.locator("[data-testid=timeline-step][data-action=report]")
    expect(reported).to_contain_text("说明：网格员上报")
    expect(reported.get_by_test_id("step-actor")).to_have_text("新市镇网格员（示例）（网格员）")
    # Each warning's note gives its time limit in Beijing time, as the pages write times.
    limits = {
        f"（时限 {beijing_text(parse_time(a[key]))}）"
        for a in detail["assignments"]
        for key in ("sign_by", "handle_by")
        if a[key]
    }
    notes = timeline.locator("[data-testid=timeline-step][data-action=overdue]").all_inner_texts()
    assert notes and all(any(limit in note for limit in limits) for note in notes), notes
    names = timeline.get_by_test_id("step-name").all_inner_texts()
    assert names and all(english_left(name) == "" for name in names), names
    text = timeline.inner_text()
    assert "grid" not in text and "deadline_near" not in text and "+00:00" not in text, text
    # Matter codes (C-004) and list versions (清单 v2) are the published list's own names.
    assert english_left(re.sub(r"[A-Z]-\d{3}|清单 v\d+", "", text)) == "", text
    screenshots(page, "timeline")


def test_a_grid_worker_at_the_county_board_is_told_once_and_sees_no_board(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    page = sign_in("grid", phone=True)
    expect(page.get_by_test_id("nav-report")).to_be_visible()
    expect(page.get_by_test_id("nav-county")).to_have_count(0)
    expect(page.get_by_test_id("nav-department")).to_have_count(0)
    page.goto(f"{service.url}/#/county")
    refused = page.get_by_test_id("page-forbidden")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("网格员无权查看县指挥中心看板")
    expect(page.get_by_test_id("board-forbidden")).to_have_count(0)
    expect(page.get_by_test_id("county-counters")).to_have_count(0)
    expect(page.get_by_test_id("county-map")).to_have_count(0)
    screenshots(page, "county")
    page.get_by_test_id("page-forbidden-home").click()
    expect(page.get_by_test_id("report-map")).to_be_visible()


def test_a_department_clerk_at_the_county_board_is_told_once(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    page = sign_in("zhifa")
    expect(page.get_by_test_id("nav-department")).to_be_visible()
    expect(page.get_by_test_id("nav-county")).to_have_count(0)
    page.goto(f"{service.url}/#/county")
    expect(page.get_by_test_id("page-forbidden")).to_have_count(1)
    expect(page.get_by_test_id("page-forbidden")).to_contain_text(
        "部门工作人员无权查看县指挥中心看板"
    )
    expect(page.get_by_test_id("board-forbidden")).to_have_count(0)
    expect(page.get_by_test_id("county-counters")).to_have_count(0)
    screenshots(page, "county")
    page.goto(f"{service.url}/#/township")
    expect(page.get_by_test_id("page-forbidden")).to_contain_text("无权查看乡镇看板")


def test_a_grid_worker_on_the_township_board_gets_no_buttons_it_may_not_use(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    detail = routed_event(service)
    part = next(a for a in detail["assignments"] if a["role"] == "territorial")
    card = f"[data-testid=township-duties] [data-testid=assignment-{part['id']}]"
    township = sign_in("township")
    expect(township.locator(card)).to_have_attribute("data-status", "pending")
    expect(township.locator(f"{card} [data-testid=sign]")).to_be_visible()
    grid = sign_in("grid", phone=True)
    expect(grid.get_by_test_id("nav-township")).to_be_visible()
    grid.goto(f"{service.url}/#/township")
    expect(grid.locator(card)).to_have_attribute("data-status", "pending")
    for button in ("sign", "return-toggle", "feedback-toggle"):
        expect(grid.locator(f"{card} [data-testid={button}]")).to_be_hidden()
    expect(grid.get_by_test_id("page-forbidden")).to_have_count(0)
    expect(grid.get_by_test_id("board-forbidden")).to_have_count(0)
    screenshots(grid, "township")


def test_a_refused_board_says_so_once_with_no_board_under_it(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    page = sign_in("zhifa")
    expect(page.get_by_test_id("dept-counters")).to_be_visible()
    shichang = service.loop.client.get("/api/auth/me", headers=service.loop.token("shichang"))
    other = shichang.json()["department_id"]
    # A stored user pointing at another department's board: the server refuses it (4403).
    page.evaluate(
        """(other) => {
            const user = JSON.parse(localStorage.getItem("sipingtai.user"));
            localStorage.setItem("sipingtai.user", JSON.stringify({...user, department_id: other}));
        }""",
        other,
    )
    page.reload()
    expect(page.get_by_test_id("board-forbidden")).to_have_count(1)
    expect(page.get_by_test_id("board-forbidden")).to_have_text("无权查看该看板")
    expect(page.get_by_text("无权查看该看板")).to_have_count(1)
    expect(page.get_by_test_id("dept-counters")).to_have_count(0)
    expect(page.get_by_test_id("dept-inbox")).to_have_count(0)
    screenshots(page, "refused")
