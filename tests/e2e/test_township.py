"""The township's day in Chromium: its territory on a map, and the on-site check from a phone.

The check (核查) is done where the problem was, so it is a phone page; the township's grid
workers walk its grids every day and may verify its events too (users.policy: VERIFY is the
township roles', in their own township).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_pages
from tests.e2e.api import Api
from tests.e2e.conftest import ResponseWatch, Service
from tests.e2e.test_pages import PHONE, SignIn, live, no_sideways_scroll
from tests.helpers import demo_grid_point, image_bytes
from tests.service.test_loop import XINSHI

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def test_the_township_sees_its_events_on_its_territory_map(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    waiting = api.report(description="地图甲：菜场门口占道卖菜")
    lon, lat = demo_grid_point(XINSHI, nth=8)  # apart from the first, so each dot can be clicked
    checked = api.report(description="地图乙：早市占道经营", lon=lon, lat=lat)
    api.resolve(checked)

    township = sign_in("township")
    live(township)
    territory = township.get_by_test_id("township-map")
    expect(territory).to_have_attribute("data-framed", "1")
    dot = territory.locator(f"[data-testid=map-event][data-event-id='{waiting}']")
    expect(dot).to_have_attribute("data-status", "dispatched")
    resolved = territory.locator(f"[data-testid=map-event][data-event-id='{checked}']")
    expect(resolved).to_have_attribute("data-status", "resolved")
    expect(township.get_by_test_id("map-legend")).to_contain_text("待核查")
    screenshots(township, "map")

    # A change arrives live: the dot follows the event's status.
    api.act("township", f"events/{checked}/verify", {"passed": True})
    expect(resolved).to_have_attribute("data-status", "verified")
    resolved.click()
    expect(township).to_have_url(re.compile(rf"#/event/{checked}$"))
    expect(township.get_by_test_id("event-status")).to_have_attribute("data-status", "verified")


def open_check(page: Page, event_id: int) -> Any:
    """From the nav, open the on-site check of one event; return the form."""
    page.get_by_test_id("nav-verify").click()
    expect(page).to_have_url(re.compile(r"#/verify$"))
    live(page)
    page.get_by_test_id(f"verify-{event_id}").get_by_test_id("verify-open").click()
    sheet = page.get_by_test_id("verify-sheet")
    expect(sheet).to_have_attribute("data-event-id", str(event_id))
    return sheet


def test_the_township_operator_passes_a_check_with_a_photo_from_a_phone(
    sign_in: SignIn, api: Api, screenshots: Any, tmp_path: Any
) -> None:
    event_id = api.report(description="核查甲：菜场门口占道卖菜")
    api.resolve(event_id)
    township = sign_in("township", phone=True)
    sheet = open_check(township, event_id)
    no_sideways_scroll(township)
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(image_bytes())
    sheet.get_by_test_id("verify-photo").set_input_files(str(photo))
    sheet.get_by_test_id("verify-note").fill("现场已清理，摊贩已入市经营")
    screenshots(township, "1-form")
    sheet.get_by_test_id("verify-pass-big").click()

    expect(township.get_by_test_id("verify-done")).to_contain_text("已核查通过")
    expect(township.get_by_test_id(f"verify-{event_id}")).to_have_count(0)
    detail = api.event(event_id)
    assert detail["status"] == "verified"
    assert detail["steps"][-1]["reason"] == "现场已清理，摊贩已入市经营"
    assert [a["file_name"] for a in detail["attachments"]] == ["现场.jpg"]
    no_sideways_scroll(township)
    screenshots(township, "2-done")


def test_a_grid_worker_fails_a_check_in_their_township_from_a_phone(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(description="核查乙：菜场门口占道卖菜")
    api.resolve(event_id)
    grid = sign_in("grid", phone=True)
    expect(grid.get_by_test_id("nav-verify")).to_have_text("现场核查")
    sheet = open_check(grid, event_id)
    no_sideways_scroll(grid)

    sheet.get_by_test_id("verify-fail-big").click()  # a failure needs the reason
    expect(sheet.get_by_test_id("verify-error")).to_contain_text("请填写核查说明")
    assert api.event(event_id)["status"] == "resolved"
    sheet.get_by_test_id("verify-note").fill("摊贩仍在原处，未整改")
    sheet.get_by_test_id("verify-fail-big").click()

    expect(grid.get_by_test_id("verify-done")).to_contain_text("核查不通过")
    expect(grid.get_by_test_id(f"verify-{event_id}")).to_have_count(0)
    detail = api.event(event_id)
    assert detail["status"] == "in_progress" and detail["rework_count"] == 1
    lead = api.part(event_id, "lead")
    assert lead["came_back"]["kind"] == "verify_failed"
    assert lead["came_back"]["note"] == "摊贩仍在原处，未整改"
    screenshots(grid, "done")


def test_whoever_may_not_verify_is_told_so_once(
    sign_in: SignIn, service: Service, responses: ResponseWatch
) -> None:
    zhifa = sign_in("zhifa")
    expect(zhifa.get_by_test_id("nav-verify")).to_have_count(0)
    zhifa.goto(f"{service.url}/#/verify")
    expect(zhifa.get_by_test_id("board-forbidden")).to_have_count(1)
    expect(zhifa.get_by_test_id("board-forbidden")).to_have_text(
        "现场核查仅限乡镇网格员和乡镇指挥室"
    )
    assert PHONE["width"] == 390
