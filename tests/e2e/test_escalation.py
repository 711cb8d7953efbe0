"""乡呼县应 in Chromium: a township calls the county in, the centre answers, a unit signs."""

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


def test_the_township_escalates_the_centre_answers_the_department_signs(
    sign_in: SignIn, api: Api, screenshots: Any
) -> None:
    event_id = api.report(matter_code="C-012", description="电线杆上贴满了办证小广告")
    lead = api.part(event_id, "lead")  # 乡镇自办: the township's platform leads

    township = sign_in("township")
    live(township)
    row = township.get_by_test_id(f"escalate-part-{lead['id']}")
    row.get_by_test_id("escalate-toggle").click()
    row.get_by_test_id("escalate-form-reason").fill(
        "小广告团伙跨镇作案，乡镇无执法权，需县综合执法局查处"
    )
    row.get_by_test_id("escalate-form-submit").click()
    expect(row.get_by_test_id("escalation-badge")).to_have_text("乡呼")
    expect(row.get_by_test_id("escalate-form")).to_be_hidden()
    screenshots(township, "township")

    centre = sign_in("centre")
    live(centre)
    queue = centre.get_by_test_id("escalation-queue")
    call = queue.locator(f"[data-event-id='{event_id}']")
    expect(call.get_by_test_id("escalation-reason")).to_contain_text("乡镇无执法权")
    expect(call.get_by_test_id("escalation-since")).to_contain_text("已呼叫")
    screenshots(centre, "county")
    listing = sign_in("centre")
    listing.goto(listing.url.split("#")[0] + "#/events")
    listed = listing.locator(f"[data-testid=events-row][data-event-id='{event_id}']")
    expect(listed.get_by_test_id("escalation-badge")).to_have_text("乡呼")
    call.get_by_test_id("answer-by-list").click()
    expect(call).to_have_count(0)

    fresh = api.part(event_id, "lead")
    assert fresh["id"] != lead["id"] and fresh["department_name"] == "第二执法中队"
    zhifa = sign_in("zhifa")
    live(zhifa)
    card = zhifa.locator(f"[data-testid=dept-inbox] [data-testid=assignment-{fresh['id']}]")
    card.get_by_test_id("sign").click()
    expect(card).to_have_attribute("data-status", "signed")

    answered = httpx.get(
        f"{api.service.url}/api/escalations?event_id={event_id}",
        headers=api.headers("centre"),
        timeout=TIMEOUT,
    ).json()["data"]
    assert answered[0]["status"] == "answered" and answered[0]["responded_at"] is not None
    assert answered[0]["on_time"] is True

    township.goto(township.url.split("#")[0] + f"#/event/{event_id}")
    steps = township.get_by_test_id("timeline-step")
    expect(steps.filter(has_text="乡呼县应").first).to_be_visible()
    expect(township.get_by_test_id("escalation-badge")).to_have_count(0)
