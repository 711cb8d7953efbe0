"""督办 in Chromium: the centre issues a notice, the department acknowledges it on its inbox,
and the county board's panel follows live."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

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


def test_a_notice_is_issued_acknowledged_and_followed_on_the_board(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(description="菜场门口流动摊贩占道卖菜，多次反映未解决")
    lead = api.part(event_id, "lead")

    centre = sign_in("centre")
    base = centre.url.split("#")[0]
    centre.goto(base + f"#/event/{event_id}")
    part = centre.locator(f"[data-testid=detail-assignment][data-assignment-id='{lead['id']}']")
    part.get_by_test_id("supervise-toggle").click()
    part.get_by_test_id("supervise-form-level").select_option("red")
    part.get_by_test_id("supervise-form-note").fill("群众多次反映，请今日内处置到位")
    part.get_by_test_id("supervise-form-submit").click()
    expect(centre.get_by_test_id("timeline")).to_contain_text("红牌督办：群众多次反映")

    centre.goto(base + "#/county")
    live(centre)
    red = centre.get_by_test_id("notices-red")
    item = red.locator("[data-testid=notice-item]").filter(has_text="群众多次反映")
    expect(item).to_have_attribute("data-status", "open")
    expect(item.get_by_test_id("notice-status")).to_have_text("待回复")

    zhifa = sign_in("zhifa")
    live(zhifa)
    card = zhifa.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{lead['id']}]")
    notice = card.locator("[data-testid^=notice-][data-notice-id]")
    expect(notice).to_have_count(1)
    expect(notice.get_by_test_id("notice-level")).to_have_text("红牌督办")
    expect(notice.get_by_test_id("notice-note")).to_have_text("群众多次反映，请今日内处置到位")
    notice.get_by_test_id("notice-reply-toggle").click()
    notice.get_by_test_id("notice-reply-form-submit").click()  # empty: the page asks for it
    expect(notice.get_by_test_id("notice-reply-form-error")).to_contain_text("回复内容")
    notice.get_by_test_id("notice-reply-form-note").fill("已安排中队今日到场劝离")
    notice.get_by_test_id("notice-reply-form-submit").click()
    expect(notice).to_have_attribute("data-status", "acknowledged")
    expect(notice.get_by_test_id("notice-reply")).to_contain_text("已安排中队今日到场劝离")
    expect(notice.get_by_test_id("notice-reply-toggle")).to_be_hidden()
    screenshots(zhifa, "inbox-notice")

    # the centre's board follows without a reload
    acknowledged = red.locator("[data-testid=notice-item][data-status=acknowledged]").filter(
        has_text="群众多次反映"
    )
    expect(acknowledged).to_have_count(1)
    expect(acknowledged.get_by_test_id("notice-reply")).to_contain_text("已安排中队今日到场劝离")
    screenshots(centre, "county-notices")
