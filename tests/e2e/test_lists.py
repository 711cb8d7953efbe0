"""The list in Chromium: a department applies in writing, the staffing office publishes it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e import test_pages
from tests.e2e.test_pages import SignIn, no_sideways_scroll

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow
MATTER = "C-004"  # 占道经营: lead 县综合行政执法局, co 县市场监督管理局


def test_a_written_application_is_accepted_diffed_and_published(
    sign_in: SignIn, screenshots: Any
) -> None:
    zhifa = sign_in("zhifa")
    zhifa.get_by_test_id("nav-lists").click()
    head = zhifa.get_by_test_id("list-head")
    expect(head).to_have_attribute("data-in-force", "true")
    old_version = int(head.get_attribute("data-version") or 0)
    card = zhifa.locator(f"[data-testid=list-matter][data-code='{MATTER}']")
    expect(card.get_by_test_id("matter-lead")).to_contain_text("县综合行政执法局")
    card.get_by_test_id(f"apply-{MATTER}").click()
    form = f"apply-form-{MATTER}"
    zhifa.get_by_test_id(f"{form}-kind").select_option("move_lead")
    zhifa.get_by_test_id(f"{form}-department").select_option(label="县市场监督管理局")
    zhifa.get_by_test_id(f"{form}-basis").fill("县委编办〔2026〕3号")
    zhifa.get_by_test_id(f"{form}-reasons").fill("摊贩多在市场周边，由市场监管牵头更顺")
    zhifa.get_by_test_id(f"{form}-submit").click()
    expect(zhifa.get_by_test_id(f"apply-done-{MATTER}")).to_contain_text("等待县委编办审核")
    mine = zhifa.get_by_test_id("my-change").first
    expect(mine).to_have_attribute("data-status", "pending")
    change_id = mine.get_attribute("data-id")

    bianban = sign_in("bianban")  # the staffing office's home page is the review desk
    expect(bianban.get_by_test_id("nav-staffing")).to_have_class("on")
    change = bianban.locator(f"[data-testid=change][data-id='{change_id}']")
    expect(change.get_by_test_id("change-summary")).to_have_text(
        "牵头部门由「县综合行政执法局」改为「县市场监督管理局」"
    )
    expect(change.get_by_test_id("change-current")).to_contain_text("县综合行政执法局")
    change.get_by_test_id(f"accept-{change_id}").click()
    bianban.get_by_test_id(f"accept-form-{change_id}-note").fill("同意调整")
    bianban.get_by_test_id(f"accept-form-{change_id}-submit").click()
    expect(bianban.get_by_test_id("no-pending")).to_be_visible()
    draft = bianban.get_by_test_id("draft-head")
    expect(draft).to_have_attribute("data-version", str(old_version + 1))
    matter = bianban.locator(f"[data-testid=diff-matter][data-code='{MATTER}']")
    expect(matter).to_have_attribute("data-change", "changed")
    lead = matter.locator("[data-testid=diff-column][data-column=lead]")
    expect(lead.get_by_test_id("diff-old")).to_have_text("县综合行政执法局")
    expect(lead.get_by_test_id("diff-new")).to_have_text("县市场监督管理局")
    expect(lead.locator("del")).to_have_count(1)
    screenshots(bianban, "draft-diff")
    bianban.get_by_test_id("publish").click()
    expect(bianban.get_by_test_id("publish-done")).to_contain_text(f"第{old_version + 1}版已发布")
    expect(bianban.get_by_test_id("no-draft")).to_be_visible()
    reviewed = bianban.locator(f"[data-testid=reviewed-change][data-id='{change_id}']")
    expect(reviewed).to_have_attribute("data-status", "published")

    zhifa.reload()
    expect(head).to_have_attribute("data-version", str(old_version + 1))
    expect(head).to_have_attribute("data-in-force", "true")
    expect(card.get_by_test_id("matter-lead")).to_have_text("牵头部门：县市场监督管理局")
    expect(zhifa.get_by_test_id("my-change").first).to_have_attribute("data-status", "published")
    # Older versions stay readable.
    older = zhifa.locator("[data-testid=list-version] option[data-status=superseded]").first
    zhifa.get_by_test_id("list-version").select_option(older.get_attribute("value") or "")
    expect(head).to_have_attribute("data-in-force", "false")
    expect(card.get_by_test_id("matter-lead")).to_have_text("牵头部门：县综合行政执法局")

    grid = sign_in("grid", phone=True)  # every role reads the list, on a phone too
    grid.get_by_test_id("nav-lists").click()
    expect(grid.get_by_test_id("list-head")).to_have_attribute("data-version", str(old_version + 1))
    grid.get_by_test_id("list-q").fill("占道")
    expect(grid.locator(f"[data-testid=list-matter][data-code='{MATTER}']")).to_be_visible()
    expect(grid.get_by_test_id(f"apply-{MATTER}")).to_have_count(0)
    no_sideways_scroll(grid)
