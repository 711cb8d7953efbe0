"""The department clerk's day in Chromium: why a task came back, the event page, the history."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_pages
from tests.e2e.api import Api
from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, live

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def inbox_card(page: Page, assignment_id: int) -> Any:
    return page.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{assignment_id}]")


def test_each_card_says_why_it_came_back(sign_in: SignIn, api: Api, screenshots: Any) -> None:
    failed = api.report(description="菜场门口流动摊贩占道卖菜")
    api.resolve(failed)
    api.act("township", f"events/{failed}/verify", {"passed": False, "note": "复查时摊贩又回来了"})

    reopened = api.report(description="菜场东门早市占道经营")
    api.resolve(reopened)
    api.act("township", f"events/{reopened}/verify", {"passed": True})
    api.act("township", f"events/{reopened}/close")
    api.act("township", f"events/{reopened}/rate", {"rating": 2, "note": "群众反映晚上又来摆摊"})

    refused = api.report(matter_code="C-005", description="小区门口乱堆装修垃圾")
    lead = api.part(refused, "lead")
    body = {"reason": "不属本局", "clause_code": "C-005"}
    api.act("zhifa", f"assignments/{lead['id']}/return", body)
    api.act(
        "centre", f"assignments/{lead['id']}/refuse-return", {"reason": "清单第30行由综合执法牵头"}
    )

    zhifa = sign_in("zhifa")
    live(zhifa)
    expected = {
        failed: ("verify_failed", "核查不通过", "核查意见：复查时摊贩又回来了"),
        reopened: ("reopened", "回访不满意重启（评分 2 分）", "回访意见：群众反映晚上又来摆摊"),
        refused: ("return_refused", "退回被驳回", "县指挥中心理由：清单第30行由综合执法牵头"),
    }
    for event_id, (kind, title, line) in expected.items():
        card = inbox_card(zhifa, api.part(event_id, "lead")["id"])
        why = card.get_by_test_id("came-back")
        expect(why).to_have_attribute("data-kind", kind)
        expect(why).to_contain_text(title)
        expect(why.get_by_test_id("came-back-note")).to_have_text(line)
        expect(why).not_to_contain_text(kind)  # the code stays out of the words
    screenshots(zhifa, "inbox")


def test_the_event_page_shows_a_return_only_while_it_stands(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(matter_code="C-005", description="路边堆了一大堆建材和杂物")
    lead = api.part(event_id, "lead")
    api.act(
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "堆放物为经营户货物", "clause_code": "C-005"},
    )

    zhifa = sign_in("zhifa")
    zhifa.goto(zhifa.url.split("#")[0] + f"#/event/{event_id}")
    part = zhifa.locator(f"[data-testid=detail-assignment][data-assignment-id='{lead['id']}']")
    expect(part).to_have_attribute("data-status", "returned")
    expect(part.get_by_test_id("detail-return")).to_contain_text("堆放物为经营户货物")
    screenshots(zhifa, "1-returned")

    api.act("centre", f"assignments/{lead['id']}/refuse-return", {"reason": "属本局职责"})
    expect(part).to_have_attribute("data-status", "pending")  # live, without a reload
    expect(part.get_by_test_id("detail-return")).to_have_count(0)
    expect(part.get_by_test_id("came-back")).to_contain_text("退回被驳回")
    expect(part.get_by_test_id("came-back-note")).to_have_text("县指挥中心理由：属本局职责")
    # The timeline still tells the whole story.
    returned_step = zhifa.locator("[data-testid=timeline-step][data-action=return]")
    expect(returned_step).to_contain_text("堆放物为经营户货物")
    expect(zhifa.locator("[data-testid=timeline-step][data-action=refuse_return]")).to_have_count(1)
    screenshots(zhifa, "2-refused")


def test_the_history_tab_searches_the_departments_own_past_tasks(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    done = api.report(description="历史页甲：菜场门口占道卖菜")
    api.resolve(done)
    moved = api.report(matter_code="C-005", description="历史页乙：路边堆放建材")
    moved_lead = api.part(moved, "lead")
    api.act(
        "zhifa",
        f"assignments/{moved_lead['id']}/return",
        {"reason": "非本局", "clause_code": "C-005"},
    )
    market = api.part(done, "co")["department_id"]
    api.act(
        "centre",
        f"assignments/{moved_lead['id']}/redispatch",
        {"department_id": market, "reason": "属市场监管"},
    )

    zhifa = sign_in("zhifa")
    zhifa.get_by_test_id("dept-tab-history").click()
    expect(zhifa).to_have_url(re.compile(r"#/department/history$"))
    items = zhifa.get_by_test_id("history-item")
    expect(items.first).to_be_visible()
    zhifa.get_by_test_id("history-q").fill("历史页")
    zhifa.get_by_test_id("history-submit").click()
    expect(zhifa.get_by_test_id("history-count")).to_have_attribute("data-count", "2")
    # Newest first: the redispatched (cancelled) one was dispatched last.
    expect(items.nth(0)).to_have_attribute("data-event-id", str(moved))
    expect(items.nth(0).get_by_test_id("history-item-status")).to_have_text("已撤销")
    expect(items.nth(1)).to_have_attribute("data-event-id", str(done))
    expect(items.nth(1).get_by_test_id("history-item-status")).to_have_text("已反馈")
    screenshots(zhifa, "1-search")

    zhifa.get_by_test_id("history-filter-status").select_option("fed_back")
    zhifa.get_by_test_id("history-submit").click()
    expect(zhifa.get_by_test_id("history-count")).to_have_attribute("data-count", "1")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-event-id", str(done))

    zhifa.get_by_test_id("history-filter-status").select_option("")
    zhifa.get_by_test_id("history-matter").select_option("C-005")
    zhifa.get_by_test_id("history-submit").click()
    expect(zhifa.get_by_test_id("history-count")).to_have_attribute("data-count", "1")
    expect(items.first).to_have_attribute("data-event-id", str(moved))

    # The period is of China-time days, both included: today finds it, tomorrow on does not.
    today = zhifa.evaluate("new Date().toLocaleDateString('sv-SE', {timeZone: 'Asia/Shanghai'})")
    zhifa.get_by_test_id("history-since").fill(today)
    zhifa.get_by_test_id("history-until").fill(today)
    zhifa.get_by_test_id("history-submit").click()
    expect(zhifa.get_by_test_id("history-count")).to_have_attribute("data-count", "1")
    zhifa.get_by_test_id("history-since").fill("2099-01-01")
    zhifa.get_by_test_id("history-until").fill("")
    zhifa.get_by_test_id("history-submit").click()
    expect(zhifa.get_by_test_id("history-count")).to_have_attribute("data-count", "0")
    expect(zhifa.get_by_test_id("history-empty")).to_be_visible()

    # Another department's clerk finds none of zhifa's parts.
    shichang = sign_in("shichang")
    shichang.get_by_test_id("dept-tab-history").click()
    shichang.get_by_test_id("history-q").fill("历史页乙")
    shichang.get_by_test_id("history-submit").click()
    expect(shichang.get_by_test_id("history-count")).to_have_attribute("data-count", "1")
    theirs = shichang.get_by_test_id("history-item")
    expect(theirs).to_have_count(1)
    assert theirs.first.get_attribute("data-assignment-id") != str(moved_lead["id"])
    screenshots(shichang, "2-other-department")
