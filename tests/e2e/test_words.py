"""The words a person reads, in real Chromium: suggestions above the floor, the timeline's
Chinese step names and display names, Beijing times, and each role's own pages and buttons."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_pages import SignIn, sign_in  # noqa: F401  (the fixture)

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
