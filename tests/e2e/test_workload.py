"""编制评估 in Chromium: the staffing office opens it, reads the table and the chart, sorts a
column, follows the agenda to its event, downloads the workbook; on a phone it fits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e import test_pages
from tests.e2e.api import Api
from tests.e2e.conftest import Service
from tests.e2e.test_pages import SignIn, no_sideways_scroll

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def _numbers(texts: list[str]) -> list[int]:
    return [int(t.strip()) for t in texts]


def test_the_staffing_office_reads_sorts_and_downloads_the_evidence(
    sign_in: SignIn, api: Api, screenshots: Any, tmp_path: Path
) -> None:
    handled = api.report(matter_code="C-004")  # 占道经营 in 新市镇: 第二执法中队 leads
    api.resolve(handled)
    returned = api.report(matter_code="C-005", description="路边堆了一大堆装修建材")
    lead = api.part(returned, "lead")
    api.act(
        "zhifa",
        f"assignments/{lead['id']}/return",
        {"reason": "堆放物为经营户货物", "clause_code": "B-009"},
    )

    bianban = sign_in("bianban")
    errors: list[str] = []  # the chart under the pages' CSP: no inline style refused, no error
    bianban.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    bianban.get_by_test_id("nav-workload").click()
    expect(bianban).to_have_url(re.compile(r"#/workload$"))
    table = bianban.get_by_test_id("workload-table")
    unit = table.locator("[data-testid=workload-row]", has_text="第二执法中队")
    expect(unit.locator("td[data-key=handled]")).to_contain_text("牵头1")
    expect(unit.get_by_test_id("saturation-parts")).to_contain_text("÷")
    expect(bianban.get_by_test_id("saturation-chart").locator("canvas")).to_have_count(1)
    bars = int(bianban.get_by_test_id("saturation-chart").get_attribute("data-bars") or 0)
    assert bars >= 2  # the unit that led and the one that cooperated

    parts = table.locator("td[data-key=parts]")
    bianban.get_by_test_id("sort-parts").click()
    expect(bianban.get_by_test_id("sort-parts").locator("xpath=..")).to_have_attribute(
        "aria-sort", "descending"
    )
    down = _numbers(parts.all_inner_texts())
    assert down == sorted(down, reverse=True) and down[0] >= 1
    bianban.get_by_test_id("sort-parts").click()
    expect(bianban.get_by_test_id("sort-parts").locator("xpath=..")).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert _numbers(parts.all_inner_texts()) == sorted(down)

    item = bianban.locator("[data-testid=agenda-item][data-code='C-005']")
    expect(item).to_contain_text("退回 1 次")
    expect(item.locator(f"[data-event-id='{returned}']")).to_have_attribute(
        "href", f"#/event/{returned}"
    )
    bianban.get_by_test_id("saturation-chart").locator("canvas").hover()  # the tooltip
    screenshots(bianban, "desk")
    assert errors == []

    with bianban.expect_download() as download:
        bianban.get_by_test_id("export-workbook").click()
    expect(bianban.get_by_test_id("export-note")).to_have_text("工作簿已导出")
    saved = tmp_path / download.value.suggested_filename
    assert saved.name.startswith("编制评估-") and saved.suffix == ".xlsx"
    download.value.save_as(saved)
    book = load_workbook(saved)
    assert book.sheetnames[0] == "编制评估" and book["编制评估"].freeze_panes == "A2"
    names = [row[0] for row in book["编制评估"].iter_rows(min_row=2, values_only=True)]
    assert "第二执法中队" in names

    bianban.get_by_test_id("period-last-month").click()  # November: nothing was dispatched
    expect(unit.locator("td[data-key=parts]")).to_have_text("0")
    expect(bianban.get_by_test_id("chart-empty")).to_be_visible()

    phone = sign_in("bianban", phone=True)
    phone.get_by_test_id("nav-workload").click()
    expect(phone.get_by_test_id("saturation-chart").locator("canvas")).to_have_count(1)
    expect(phone.get_by_test_id("workload-row").first).to_be_visible()
    no_sideways_scroll(phone)
    screenshots(phone, "phone")

    centre = sign_in("centre")  # the centre reaches it too
    expect(centre.get_by_test_id("nav-workload")).to_be_visible()
