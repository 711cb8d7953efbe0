"""延期 in Chromium: the department asks on its inbox card, the centre approves on the county
board, and the department's countdown moves to the new deadline without a reload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e import test_pages
from tests.e2e.api import TIMEOUT, Api
from tests.e2e.conftest import Service
from tests.e2e.test_department import inbox_card
from tests.e2e.test_pages import SignIn, live

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def read(api: Api, user: str, path: str) -> Any:
    answer = httpx.get(f"{api.service.url}/api/{path}", headers=api.headers(user), timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def millis(iso: str) -> str:
    """Return a time as the pages hold it: whole milliseconds since the epoch (Date.parse)."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return str(int(moment.timestamp()) * 1000 + moment.microsecond // 1000)


def test_the_department_asks_the_centre_approves_and_the_countdown_moves(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(description="延期页：菜场门口流动摊贩占道卖菜")
    lead = api.part(event_id, "lead")
    api.act("zhifa", f"assignments/{lead['id']}/sign")
    before = api.part(event_id, "lead")["handle_by"]

    zhifa = sign_in("zhifa")
    live(zhifa)
    card = inbox_card(zhifa, lead["id"])
    countdown = card.get_by_test_id("countdown")
    expect(countdown).to_have_attribute("data-deadline", millis(before))
    standing = card.get_by_test_id("extension-standing")
    expect(standing).to_contain_text("距办结时限还有")
    expect(standing).to_contain_text("还可延期 20 个工作日")
    card.get_by_test_id("extension-toggle").click()
    card.get_by_test_id("extension-form-working_days").fill("3")
    card.get_by_test_id("extension-form-reason").fill("需会同市场监管联合整治")
    card.get_by_test_id("extension-form-submit").click()
    expect(card.get_by_test_id("extension-pending")).to_have_text("延期申请中")
    expect(card.get_by_test_id("extension-toggle")).to_be_hidden()
    screenshots(zhifa, "1-asked")

    (pending,) = [
        x
        for x in read(api, "centre", "extensions?status=pending")["data"]
        if x["event_id"] == event_id
    ]
    assert pending["working_days"] == 3 and pending["reason"] == "需会同市场监管联合整治"

    centre = sign_in("centre")
    row = centre.get_by_test_id(f"extension-{pending['id']}")
    expect(row).to_contain_text("申请延期 3 个工作日：需会同市场监管联合整治")
    row.get_by_test_id("approve-toggle").click()
    row.get_by_test_id("approve-form-working_days").fill("2")
    row.get_by_test_id("approve-form-note").fill("情况属实，同意延期两个工作日")
    screenshots(centre, "2-deciding")
    row.get_by_test_id("approve-form-submit").click()
    expect(row).to_have_count(0)

    decided = read(api, "centre", f"extensions/{pending['id']}")
    assert decided["status"] == "approved" and decided["granted_days"] == 2
    after = decided["handle_by_after"]
    assert after > before
    # Live, without a reload: the card's countdown now runs to the new deadline.
    expect(countdown).to_have_attribute("data-deadline", millis(after))
    expect(card.get_by_test_id("extension-pending")).to_have_count(0, timeout=30_000)
    expect(standing).to_contain_text("还可延期 18 个工作日", timeout=30_000)
    screenshots(zhifa, "3-approved")
