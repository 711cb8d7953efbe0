"""Likely duplicates in real Chromium.

The command centre merges a duplicate from the event page after seeing the candidates; a grid
worker on a phone is warned of a likely duplicate before submitting, and may submit anyway.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, sign_in  # noqa: F401 (fixture)
from tests.helpers import demo_grid_point

pytestmark = pytest.mark.slow

XINSHI = "320999004"
SMALL_PHONE: ViewportSize = {"width": 375, "height": 812}


def shifted(lon: float, lat: float, east_m: float) -> tuple[float, float]:
    """Return the point east_m metres east of (lon, lat)."""
    return lon + east_m / (111_320 * math.cos(math.radians(lat))), lat


def report(service: Service, lon: float, lat: float, description: str) -> int:
    """Report a 占道经营 event as the grid worker through the API; return its id."""
    loop = service.loop
    body = {
        "client_id": str(uuid4()),
        "reported_at": datetime.now(UTC).isoformat(),
        "lon": lon,
        "lat": lat,
        "description": description,
        "matter_code": "C-004",
    }
    response = loop.client.post("/api/events", json=body, headers=loop.token("grid"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_the_command_centre_merges_a_duplicate_from_the_event_page(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=10)
    master = report(service, lon, lat, "菜场北门流动摊贩占道卖菜")
    duplicate = report(service, *shifted(lon, lat, 60), "菜场北门又有人摆摊占道")
    centre = sign_in("centre")
    centre.goto(f"{service.url}/#/event/{duplicate}")
    panel = centre.get_by_test_id("duplicates-panel")
    candidate = panel.locator(f"[data-testid=duplicate-candidate][data-event-id='{master}']")
    expect(candidate).to_be_visible()
    expect(candidate.get_by_test_id("duplicate-distance")).to_contain_text("米")
    expect(candidate.get_by_test_id("duplicate-description")).to_have_text(
        "菜场北门流动摊贩占道卖菜"
    )
    expect(candidate.get_by_test_id("duplicate-age")).to_contain_text("相隔")
    expect(candidate.get_by_test_id("status")).to_be_visible()
    screenshots(centre, "1-candidates")

    candidate.get_by_test_id("merge-pick").click()
    confirm = candidate.get_by_test_id("merge-confirm")
    expect(confirm).to_contain_text(f"合并到事件 #{master}")
    confirm.get_by_test_id("merge-reason").fill("同一摊贩，重复上报")
    confirm.get_by_test_id("merge-confirm-submit").click()
    expect(centre.get_by_test_id("merge-result")).to_contain_text(f"已合并到事件 #{master}")
    expect(centre.get_by_test_id("event-status")).to_have_attribute("data-status", "merged")
    expect(centre.locator("[data-testid=timeline-step][data-action=merge]")).to_have_count(1)
    screenshots(centre, "2-merged")

    centre.get_by_test_id("merge-master-link").click()
    expect(centre).to_have_url(re.compile(rf"#/event/{master}$"))
    expect(centre.locator("[data-testid=timeline-step][data-action=merged_in]")).to_have_count(1)
    expect(
        centre.locator(f"[data-testid=duplicate-candidate][data-event-id='{duplicate}']")
    ).to_have_count(0)


def test_the_reporter_is_warned_of_a_likely_duplicate_and_may_submit_anyway(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=11)
    existing = report(service, lon, lat, "新市街菜场门口有流动摊贩占道卖菜")
    grid = sign_in("grid", phone=True)
    grid.set_viewport_size(SMALL_PHONE)
    near_lon, near_lat = shifted(lon, lat, 30)
    draft = {
        "client_id": str(uuid4()),
        "reported_at": None,
        "lon": near_lon,
        "lat": near_lat,
        "crs": "wgs84",
        "description": "菜场门口又有摊贩占道",
        "matter_code": None,
        "urgent": False,
        "address": "",
    }
    grid.evaluate("d => localStorage.setItem('sipingtai.draft.grid', JSON.stringify(d))", draft)
    grid.reload()
    expect(grid.get_by_test_id("locate-result")).to_have_attribute("data-state", "ok")
    warning = grid.get_by_test_id("duplicate-warning")
    expect(warning).to_be_hidden()  # no matter chosen yet
    grid.get_by_test_id("matter-search").fill("占道经营")
    grid.locator("[data-testid=matter-option][data-code='C-004']").click()
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("附近可能已有相同事件")
    candidate = warning.locator(f"[data-testid=duplicate-candidate][data-event-id='{existing}']")
    expect(candidate).to_be_visible()
    expect(candidate.get_by_test_id("duplicate-open")).to_have_attribute(
        "href", f"#/event/{existing}"
    )
    expect(grid.get_by_test_id("submit")).to_be_enabled()
    no_sideways_scroll_at(grid, SMALL_PHONE["width"])
    screenshots(grid, "warning")

    # Another matter: no warning.
    grid.get_by_test_id("matter-clear").click()
    expect(warning).to_be_hidden()
    grid.get_by_test_id("matter-search").fill("占道经营")
    grid.locator("[data-testid=matter-option][data-code='C-004']").click()
    expect(warning).to_be_visible()

    grid.get_by_test_id("submit").click()
    expect(grid).to_have_url(re.compile(r"#/event/\d+$"))
    assert int(grid.url.rsplit("/", 1)[1]) != existing


def no_sideways_scroll_at(page: Page, width: int) -> None:
    """Assert the page fits a phone of this width."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"
