"""A dispute in Chromium: two departments return one event, the centre rules on the county
board's 争议待裁定 panel with a list change, and the ruled lead finds the part in its inbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e import test_pages
from tests.e2e.api import TIMEOUT, Api
from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, live

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def department_named(api: Api, name: str) -> int:
    answer = httpx.get(
        f"{api.service.url}/api/departments", headers=api.headers("centre"), timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    return int(next(d["id"] for d in answer.json() if d["name"] == name))


def test_the_centre_rules_a_dispute_and_the_new_lead_gets_the_part(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(matter_code="C-005", description="路边堆了一大堆装修建材")
    lead = api.part(event_id, "lead")
    api.act(
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "堆放物为经营户货物", "clause_code": "B-009"},
    )
    market = department_named(api, "县市场监督管理局")
    api.act(
        "centre",
        f"assignments/{lead['id']}/redispatch",
        {"department_id": market, "reason": "经研判属市场监管"},
    )
    moved = api.part(event_id, "lead")
    api.act(
        "shichang",
        f"assignments/{moved['id']}/return",
        {"reason": "不是经营户货物，属乱堆放", "clause_code": "C-005"},
    )

    centre = sign_in("centre")
    live(centre)
    queue = centre.get_by_test_id("dispute-queue")
    row = queue.locator(f"article[data-event-id='{event_id}']")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("dispute-parties")).to_contain_text("县市场监督管理局")
    screenshots(centre, "board")
    row.get_by_test_id("dispute-link").click()

    expect(centre.get_by_test_id("dispute-status")).to_have_attribute("data-status", "open")
    parties = centre.get_by_test_id("dispute-party")
    expect(parties).to_have_count(2)
    expect(centre.get_by_test_id("dispute-parties-panel")).to_contain_text("属乱堆放")
    expect(centre.get_by_test_id("dispute-parties-panel")).to_contain_text("清单第")
    expect(centre.get_by_test_id("dispute-current-entry")).to_contain_text("C-005")

    squad = lead["department_id"]
    centre.get_by_test_id("rule-lead").select_option(str(squad))
    centre.get_by_test_id("rule-co").select_option([])
    centre.get_by_test_id("rule-minutes").fill("县社治〔2026〕3号")
    centre.get_by_test_id("rule-reasoning").fill("路边乱堆建材属综合执法牵头")
    centre.get_by_test_id("rule-change-toggle").check()
    centre.get_by_test_id("change-kind").select_option("add_keywords")
    centre.get_by_test_id("change-keywords").fill("装修建材占道堆放")
    centre.get_by_test_id("change-basis").fill("县社治〔2026〕3号纪要")
    centre.get_by_test_id("change-reasons").fill("同类事件两部门先后退回")
    screenshots(centre, "ruling-form")
    centre.get_by_test_id("rule-submit").click()

    expect(centre.get_by_test_id("dispute-status")).to_have_attribute("data-status", "ruled")
    ruling = centre.get_by_test_id("dispute-ruling")
    expect(ruling).to_contain_text("县社治〔2026〕3号")
    expect(centre.get_by_test_id("dispute-list-change")).to_have_attribute("data-status", "pending")
    screenshots(centre, "ruled")

    fresh = api.part(event_id, "lead")
    assert fresh["department_id"] == squad and fresh["round"] == 3
    zhifa = sign_in("zhifa")
    live(zhifa)
    card = zhifa.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{fresh['id']}]")
    expect(card).to_be_visible()
    zhifa.goto(zhifa.url.split("#")[0] + f"#/event/{event_id}")
    expect(zhifa.get_by_test_id("event-dispute")).to_contain_text("已裁定")
