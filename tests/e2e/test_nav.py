"""Each demo user's top bar in Chromium: 考核 and 编制评估 are linked exactly when the policy lets
the role read them; a link opens its page, and a role without it is told so at the address."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dispatch.users.policy import Action, Actor, can
from dispatch.users.service import DEMO_USERS
from tests.e2e import test_pages
from tests.e2e.test_pages import SignIn

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow

# The report pages, the policy action each needs, and what shows once the page has loaded.
REPORT_PAGES = (
    ("assessment", Action.READ_REPORTS, "assessment-period"),
    ("workload", Action.READ_WORKLOAD, "workload-summary"),
)


def test_every_roles_top_bar_links_to_the_report_pages_the_policy_allows(
    sign_in: SignIn,
) -> None:
    seen: dict[str, set[str]] = {}
    for username, role, _scope, _display in DEMO_USERS:
        page = sign_in(username)
        expect(page.get_by_test_id("whoami")).to_have_attribute("data-role", role.value)
        linked = seen.setdefault(username, set())
        for name, action, loaded in REPORT_PAGES:
            link = page.get_by_test_id(f"nav-{name}")
            if not can(Actor(id=0, role=role), action):
                expect(link).to_have_count(0)
                page.goto(re.sub(r"#.*$", f"#/{name}", page.url))
                expect(page.get_by_test_id("page-forbidden")).to_be_visible()
                expect(page.get_by_test_id(loaded)).to_have_count(0)
                continue
            linked.add(name)
            link.click()
            # A page may write its view into the query (the assessment page: period, axis, sort).
            expect(page).to_have_url(re.compile(rf"#/{name}(\?[^#]*)?$"))
            expect(link).to_have_class("on")
            expect(page.get_by_test_id(loaded)).to_be_visible()
            expect(page.get_by_test_id("page-forbidden")).to_have_count(0)
    assert seen["admin"] == {"assessment", "workload"}, seen
    assert seen["grid"] == set() and seen["township"] == {"assessment"}, seen
