"""以案定责 end to end in Chromium: a case that two departments push back and forth becomes a
ruling, the ruling's list change becomes the next list version, and the next report of that
matter goes where the new version says while the old case keeps the version that routed it.

Every step a person takes is taken on the pages: the returns on the departments' inboxes, the
re-dispatch on the county board, the ruling on the dispute page, the review and publication on
the staffing office's desk. Only the reports themselves are sent over HTTP (the report page has
its own tests).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_pages
from tests.e2e.api import TIMEOUT, Api
from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, live

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow
MATTER = "C-005"  # 乱堆乱放: the demo list gives its lead to 县综合行政执法局


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def department_id(api: Api, name: str) -> int:
    answer = httpx.get(
        f"{api.service.url}/api/departments", headers=api.headers("centre"), timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    return int(next(d["id"] for d in answer.json() if d["name"] == name))


def list_of(event: dict[str, Any]) -> int:
    """Return the id of the list version that routed an event."""
    return int(event["routing"]["matter"]["list_id"])


def return_on_inbox(page: Page, assignment_id: int, reason: str, clause: str) -> None:
    """Return a part from the department's inbox, citing a row of the routing list."""
    live(page)
    card = page.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{assignment_id}]")
    expect(card).to_be_visible()
    card.get_by_test_id("return-toggle").click()
    card.get_by_test_id("return-form-reason").fill(reason)
    picker = card.get_by_test_id("return-form-clause_code")
    expect(picker.locator(f"option[value='{clause}']")).to_have_count(1)
    picker.select_option(clause)
    card.get_by_test_id("return-form-submit").click()
    expect(card.get_by_test_id("return-form")).to_be_hidden()


def test_a_ruled_dispute_revises_the_list_and_the_next_report_follows_it(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    market = department_id(api, "县市场监督管理局")
    case = api.report(matter_code=MATTER, description="市场门口堆满了经营户的货箱")
    old_version = list_of(api.event(case))
    first = api.part(case, "lead")

    # 1. The law-enforcement squad returns it: the goods are a market's.
    zhifa = sign_in("zhifa")
    return_on_inbox(zhifa, first["id"], "货箱为市场经营户所有，属市场管理", "B-009")

    # 2. The centre re-dispatches it to market supervision from the returned queue.
    centre = sign_in("centre")
    live(centre)
    row = centre.get_by_test_id(f"returned-{first['id']}")
    expect(row).to_be_visible()
    row.get_by_test_id("redispatch-toggle").click()
    row.get_by_test_id("redispatch-form-department_id").select_option(str(market))
    row.get_by_test_id("redispatch-form-reason").fill("经研判属市场监管")
    row.get_by_test_id("redispatch-form-submit").click()
    expect(row).to_have_count(0)
    moved = api.part(case, "lead")
    assert moved["department_id"] == market

    # 3. Market supervision returns it too: the second return of the lead opens a dispute.
    shichang = sign_in("shichang")
    return_on_inbox(shichang, moved["id"], "货箱堆在道路上，属乱堆乱放", MATTER)
    queue = centre.get_by_test_id("dispute-queue")
    dispute_row = queue.locator(f"article[data-event-id='{case}']")
    expect(dispute_row).to_be_visible()
    dispute_row.get_by_test_id("dispute-link").click()
    expect(centre.get_by_test_id("dispute-party")).to_have_count(2)
    expect(centre.get_by_test_id("dispute-parties-panel")).to_contain_text("属市场管理")
    expect(centre.get_by_test_id("dispute-parties-panel")).to_contain_text("属乱堆乱放")
    expect(centre.get_by_test_id("dispute-current-entry")).to_contain_text("县综合行政执法局")

    # 4. The centre rules: market supervision leads, and the list should say so.
    centre.get_by_test_id("rule-lead").select_option(str(market))
    centre.get_by_test_id("rule-co").select_option([])
    centre.get_by_test_id("rule-minutes").fill("县社治〔2026〕7号")
    centre.get_by_test_id("rule-reasoning").fill("市场周边经营户堆放货物由市场监管牵头")
    centre.get_by_test_id("rule-change-toggle").check()
    centre.get_by_test_id("change-kind").select_option("move_lead")
    centre.get_by_test_id("change-lead").select_option(str(market))
    centre.get_by_test_id("change-basis").fill("县社治〔2026〕7号纪要")
    centre.get_by_test_id("change-reasons").fill("同类事件两部门先后退回，依裁定调整牵头部门")
    centre.get_by_test_id("rule-submit").click()
    expect(centre.get_by_test_id("dispute-status")).to_have_attribute("data-status", "ruled")
    proposal = centre.get_by_test_id("dispute-list-change")
    expect(proposal).to_have_attribute("data-status", "pending")
    ruled = api.part(case, "lead")
    assert ruled["department_id"] == market and ruled["status"] == "pending"
    screenshots(centre, "1-ruled")

    # 5. The staffing office accepts the ruling's change, reads the diff and publishes it.
    bianban = sign_in("bianban")
    change = bianban.locator("[data-testid=change]").filter(has_text=MATTER)
    expect(change).to_have_count(1)
    expect(change.get_by_test_id("change-dispute")).to_be_visible()
    expect(change.get_by_test_id("change-event")).to_contain_text(f"#{case}")
    change_id = change.get_attribute("data-id")
    change.get_by_test_id(f"accept-{change_id}").click()
    bianban.get_by_test_id(f"accept-form-{change_id}-note").fill("依裁定调整")
    bianban.get_by_test_id(f"accept-form-{change_id}-submit").click()
    diff = bianban.locator(f"[data-testid=diff-matter][data-code='{MATTER}']")
    lead = diff.locator("[data-testid=diff-column][data-column=lead]")
    expect(lead.get_by_test_id("diff-old")).to_have_text("县综合行政执法局")
    expect(lead.get_by_test_id("diff-new")).to_have_text("县市场监督管理局")
    screenshots(bianban, "2-diff")
    bianban.get_by_test_id("publish").click()
    expect(bianban.get_by_test_id("publish-done")).to_contain_text("已发布")

    # 6. The next report of the matter is routed by the new version; the old case keeps its own.
    deadline = time.monotonic() + 20
    while True:  # the routers pick the new version up within a few seconds
        fresh = api.report(matter_code=MATTER, description="市场门口又堆了一排货箱")
        routed = api.event(fresh)
        if list_of(routed) != old_version or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert list_of(routed) != old_version
    new_lead = api.part(fresh, "lead")
    names = {a["department_id"]: a["department_name"] for a in routed["assignments"]}
    assert "市场监" in names[new_lead["department_id"]]
    assert list_of(api.event(case)) == old_version
    shichang.reload()
    live(shichang)
    card = shichang.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{new_lead['id']}]")
    expect(card).to_be_visible()
    screenshots(shichang, "3-new-lead")
