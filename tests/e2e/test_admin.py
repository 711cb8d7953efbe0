"""The administrator's pages in real Chromium.

The admin adds, deactivates, reactivates and re-scopes users and reads the reference data's
status; nobody else sees those pages.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import ResponseWatch, Service
from tests.e2e.test_pages import SignIn, sign_in  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

XINSHI = "320999004"


def accept_dialogs(page: Page) -> list[str]:
    """Accept every confirm() the page asks; return their texts as they come."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def test_the_admin_manages_users(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    responses: ResponseWatch,
    browser: Any,
    screenshots: Any,
) -> None:
    admin = sign_in("admin")
    expect(admin).to_have_url(re.compile(r"#/admin/users$"))
    expect(admin.get_by_test_id("nav-admin-users")).to_have_class("on")
    expect(admin.get_by_test_id("nav-admin-reference")).to_be_visible()
    asked = accept_dialogs(admin)
    expect(admin.locator("[data-testid=user-list] [data-username=grid]")).to_have_count(1)

    # A grid worker needs a township: the form says so before anything is sent.
    admin.get_by_test_id("user-add-toggle").click()
    name = f"wgy{uuid4().hex[:6]}"
    admin.get_by_test_id("user-add-username").fill(name)
    admin.get_by_test_id("user-add-display_name").fill("东村网格员")
    admin.get_by_test_id("user-add-role").select_option("grid_worker")
    expect(admin.get_by_test_id("user-add-department_id")).to_be_hidden()
    admin.get_by_test_id("user-add-submit").click()
    expect(admin.get_by_test_id("user-add-error")).to_contain_text("须选择所属乡镇")
    admin.get_by_test_id("user-add-township_code").select_option(XINSHI)
    admin.get_by_test_id("user-add-submit").click()
    secret = admin.get_by_test_id("generated-password")
    expect(secret).to_have_attribute("data-username", name)
    password = secret.inner_text().strip()
    assert len(password) == 12
    row = admin.locator(f"[data-testid=user-list] [data-username={name}]")
    expect(row).to_have_attribute("data-active", "1")
    expect(row.get_by_test_id("user-scope")).to_contain_text("新市镇")
    screenshots(admin, "1-added")

    # The new user signs in with the password shown once.
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    responses.attach(context)
    worker = context.new_page()
    worker.goto(f"{service.url}/#/login")
    worker.get_by_test_id("login-username").fill(name)
    worker.get_by_test_id("login-password").fill(password)
    worker.get_by_test_id("login-submit").click()
    expect(worker).to_have_url(re.compile(r"#/report$"))

    # Deactivated: their open page loses its session at the next request (a 401, expected).
    responses.allow(r"/api/auth/me$", 401)
    row.get_by_test_id("user-deactivate").click()
    expect(row).to_have_attribute("data-active", "0")
    assert any("停用" in text for text in asked)
    worker.reload()
    expect(worker).to_have_url(re.compile(r"#/login$"))

    # Reactivated with a new password; then a password the admin chose.
    row.get_by_test_id("user-reactivate").click()
    expect(row).to_have_attribute("data-active", "1")
    fresh = admin.get_by_test_id("generated-password")
    expect(fresh).not_to_have_text(password)
    row.get_by_test_id("reset-toggle").click()
    row.get_by_test_id("reset-form-password").fill("linshi-2026")
    row.get_by_test_id("reset-form-submit").click()
    expect(admin.get_by_test_id("generated-password-box")).to_contain_text("已重置密码")
    worker.get_by_test_id("login-username").fill(name)
    worker.get_by_test_id("login-password").fill("linshi-2026")
    worker.get_by_test_id("login-submit").click()
    expect(worker).to_have_url(re.compile(r"#/report$"))

    # A new role with the scope it needs.
    row.get_by_test_id("role-toggle").click()
    row.get_by_test_id("role-form-role").select_option("department_staff")
    expect(row.get_by_test_id("role-form-township_code")).to_be_hidden()
    row.get_by_test_id("role-form-department_id").select_option(
        label="县综合行政执法局（县级部门）"
    )
    row.get_by_test_id("role-form-submit").click()
    expect(row).to_have_attribute("data-role", "department_staff")
    expect(row.get_by_test_id("user-scope")).to_contain_text("县综合行政执法局")

    admin.get_by_test_id("user-search").fill(name)
    expect(admin.locator("[data-testid=user-list] article")).to_have_count(1)
    admin.get_by_test_id("user-search").fill("")
    admin.get_by_test_id("user-filter-active").select_option("false")
    expect(admin.locator("[data-testid=user-list] [data-active='1']")).to_have_count(0)
    screenshots(admin, "2-list")
    context.close()


def test_the_admin_reads_the_reference_data_status(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    screenshots: Any,
) -> None:
    admin = sign_in("admin")
    admin.get_by_test_id("nav-admin-reference").click()
    expect(admin).to_have_url(re.compile(r"#/admin/reference$"))
    expect(admin.get_by_test_id("reference-status")).to_have_attribute("data-loaded", "1")
    loop = service.loop
    status = loop.client.get("/api/reference/status", headers=loop.token("admin")).json()

    townships = admin.locator("[data-testid=ref-layer][data-level=township]")
    expected = next(x["count"] for x in status["layers"] if x["level"] == "township")
    expect(townships).to_have_attribute("data-count", str(expected))
    expect(townships).to_contain_text("乡镇(街道)")
    total = admin.get_by_test_id("ref-departments-total")
    expect(total).to_have_attribute("data-count", str(status["departments_total"]))
    expect(admin.get_by_test_id("ref-department-kind")).to_have_count(3)
    in_force = admin.locator("[data-testid=ref-list][data-in-force='1']")
    expect(in_force).to_have_count(1)
    expect(in_force.get_by_test_id("ref-list-in-force")).to_have_text(re.compile("现行"))
    years = admin.get_by_test_id("ref-calendar-year")
    expect(years).to_have_count(len(status["calendar"]["years"]))
    calendar = status["calendar"]
    warning = admin.get_by_test_id("calendar-warning")
    if calendar["next_year_missing"] and calendar["next_year_due"]:
        expect(warning).to_contain_text(f"尚未导入{calendar['next_year']} 年的工作日历")
    elif not calendar["current_year_missing"]:
        expect(warning).to_have_count(0)
    # Nothing on the page is an English code.
    text = admin.get_by_test_id("reference-status").inner_text()
    for code in ("county_department", "township_platform", "published", "superseded"):
        assert code not in text
    screenshots(admin, "reference")


def test_only_the_admin_sees_the_admin_pages(sign_in: SignIn) -> None:  # noqa: F811
    centre = sign_in("centre")
    expect(centre.get_by_test_id("nav-admin-users")).to_have_count(0)
    centre.goto(centre.url.split("#")[0] + "#/admin/users")
    expect(centre.get_by_test_id("page-forbidden")).to_have_count(1)
    expect(centre.get_by_test_id("user-list")).to_have_count(0)


def test_the_admin_sets_the_county_rules(
    sign_in: SignIn,  # noqa: F811
    service: Service,
    responses: ResponseWatch,
    screenshots: Any,
) -> None:
    loop = service.loop
    responses.allow("/api/county-rules", 422)  # the duplicate rule, refused on purpose
    admin = sign_in("admin")
    admin.get_by_test_id("nav-admin-reference").click()
    rules = admin.get_by_test_id("county-rules")
    expect(rules).to_have_attribute("data-loaded", "1")
    expect(rules.get_by_test_id("rules-row")).to_have_count(3)
    expect(rules.get_by_test_id("rules-level").first).to_have_value("normal")
    try:
        rules.get_by_test_id("rules-extension-limit").fill("15")
        rules.get_by_test_id("rules-remove").last.click()  # the red card after 3 days goes
        rules.get_by_test_id("rules-add").click()
        added = rules.get_by_test_id("rules-row").last
        added.get_by_test_id("rules-days").fill("5")
        added.get_by_test_id("rules-level").select_option("red")
        rules.get_by_test_id("rules-save").click()
        expect(admin.get_by_test_id("county-rules-note")).to_have_text("已保存")
        saved = loop.client.get("/api/county-rules", headers=loop.token("zhifa")).json()
        assert saved["extension_limit_days"] == 15
        assert saved["supervision_rules"][-1] == {
            "deadline": "handle",
            "overdue_working_days": 5,
            "level": "red",
        }
        assert len(saved["supervision_rules"]) == 3
        # A duplicate rule is refused in Chinese and nothing changes.
        rules.get_by_test_id("rules-add").click()
        rules.get_by_test_id("rules-row").last.get_by_test_id("rules-days").fill("5")
        rules.get_by_test_id("rules-row").last.get_by_test_id("rules-level").select_option("red")
        rules.get_by_test_id("rules-save").click()
        expect(admin.get_by_test_id("county-rules-note")).to_contain_text("督办规则重复")
        screenshots(admin, "county-rules")
    finally:
        loop.client.put(
            "/api/county-rules",
            json={
                "extension_limit_days": 20,
                "escalation_sign_hours": 2,
                "supervision_rules": [
                    {"deadline": "sign", "overdue_working_days": 0, "level": "normal"},
                    {"deadline": "handle", "overdue_working_days": 1, "level": "yellow"},
                    {"deadline": "handle", "overdue_working_days": 3, "level": "red"},
                ],
            },
            headers=loop.token("admin"),
        )
