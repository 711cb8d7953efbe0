"""考核 in Chromium: the centre reads a department's numbers as the API gives them, sorts, sees
the township map and the charts drawn under the strict CSP, downloads the workbook and
reopens the view from its link; a department clerk on a phone sees only its own row."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.e2e import test_pages
from tests.e2e.api import TIMEOUT, Api
from tests.e2e.conftest import ResponseWatch, Service
from tests.e2e.test_pages import SignIn, no_sideways_scroll
from tests.service.test_error_words import english_left

sign_in = test_pages.sign_in  # the fixture that opens a browser signed in as a demo user

pytestmark = pytest.mark.slow
ZHIFA = "县综合行政执法局"


@pytest.fixture
def api(service: Service) -> Api:
    """The demo users over HTTP, setting the scene."""
    return Api(service)


def two_outcomes(api: Api) -> None:
    """One event signed and fed back by the 执法局, one it returned."""
    done = api.part(api.report(), "lead")
    api.act("zhifa", f"assignments/{done['id']}/sign")
    api.act("zhifa", f"assignments/{done['id']}/feedback", {"note": "已劝离摊贩"})
    back = api.part(api.report(matter_code="C-005", description="路边堆了一大堆建材和杂物"), "lead")
    api.act(
        "zhifa",
        f"assignments/{back['id']}/return",
        {"reason": "不是我们的", "clause_code": "C-005"},
    )


def assessment(api: Api, user: str = "centre", **params: str) -> dict[str, Any]:
    """GET the assessment as the page does."""
    answer = httpx.get(
        f"{api.service.url}/api/reports/assessment",
        params=params,
        headers=api.headers(user),
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def watch_csp(page: Page) -> list[str]:
    """Collect the page's console errors (a CSP refusal is one) and uncaught exceptions."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    return seen


def shown(page: Page, measure: str) -> list[str]:
    """The values of a measure down the table's rows in the order shown ("" for none)."""
    cells = page.locator(f"[data-testid=assessment-row] td[data-measure={measure}]")
    values: list[str] = cells.evaluate_all("cs => cs.map(c => c.dataset.value)")
    return values


def column(page: Page, measure: str) -> list[float]:
    """The values of a measure every row has (a count), down the table in the order shown."""
    values = shown(page, measure)
    assert all(values), values
    return [float(v) for v in values]


def str_value(value: float) -> str:
    """A number as the page writes it in data-value (JavaScript's String)."""
    return f"{value:g}"


def drawn(page: Page, testid: str) -> None:
    """Assert an ECharts canvas is in the element with a size."""
    canvas = page.locator(f"[data-testid={testid}] canvas").first
    expect(canvas).to_be_attached()
    box = canvas.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, (testid, box)


def test_the_centre_reads_sorts_maps_charts_downloads_and_reopens_the_view(
    sign_in: SignIn, api: Api, service: Service, screenshots: Any, tmp_path: Any
) -> None:
    two_outcomes(api)
    expected = assessment(api, by="department")
    (mine,) = [r for r in expected["rows"] if r["name"] == ZHIFA]
    values = mine["values"]
    assert (values["parts"], values["completed"], values["returned"]) == (2, 1, 1)

    page = sign_in("centre")
    problems = watch_csp(page)
    page.get_by_test_id("nav-assessment").click()
    expect(page.get_by_test_id("nav-assessment")).to_have_class("on")
    row = page.locator(f"[data-testid=assessment-row][data-name='{ZHIFA}']")
    expect(row).to_have_count(1)
    for measure in ("parts", "events", "score", "notices_normal"):
        expect(row.locator(f"td[data-measure={measure}]")).to_have_attribute(
            "data-value", re.compile(rf"^{values[measure]:g}$")
        )
    sign = int(values["signed_on_time"]), int(values["due_for_signing"])
    expect(row.locator("td[data-measure=on_time_sign_rate]")).to_have_text(
        f"{values['on_time_sign_rate'] * 100:.1f}%（{sign[0]}/{sign[1]}）"
    )
    expect(row.locator("td[data-measure=return_rate]")).to_have_text("50.0%（1/2）")
    expect(row.locator("td[data-measure=completion_rate]")).to_have_text("50.0%（1/2）")
    total = page.get_by_test_id("assessment-total")
    expect(total.locator("td[data-measure=parts]")).to_have_text(
        str(int(expected["total"]["values"]["parts"]))
    )
    expect(page.get_by_test_id("ranking-red").get_by_test_id("ranking-item").first).to_be_visible()
    expect(page.get_by_test_id("ranking-weight")).to_have_count(
        len([w for w in expected["weights"].values() if w > 0])
    )
    expect(page.get_by_test_id("ranking-weights")).to_contain_text("按时办结率 30%")

    # Sorting by 派单数: largest first, then smallest first; the 合计 stays at the bottom.
    page.get_by_test_id("sort-parts").click()
    expect(page.locator("th[data-key=parts]")).to_have_attribute("aria-sort", "descending")
    parts = column(page, "parts")
    assert parts == sorted(parts, reverse=True) and len(parts) == len(expected["rows"]), parts
    page.get_by_test_id("sort-parts").click()
    expect(page.locator("th[data-key=parts]")).to_have_attribute("aria-sort", "ascending")
    assert column(page, "parts") == sorted(parts)
    assert page.locator("tfoot [data-testid=assessment-total]").count() == 1
    # A rate with nothing to count (none) comes last, whichever way the column is sorted.
    for direction in ("descending", "ascending"):
        page.get_by_test_id("sort-on_time_sign_rate").click()
        expect(page.locator("th[data-key=on_time_sign_rate]")).to_have_attribute(
            "aria-sort", direction
        )
        rates = shown(page, "on_time_sign_rate")
        known = [float(v) for v in rates if v]
        assert rates == [*map(str_value, known), *[""] * (len(rates) - len(known))], rates
        assert known == sorted(known, reverse=direction == "descending"), rates
    drawn(page, "trend-chart")
    drawn(page, "bar-chart")
    expect(page.get_by_test_id("trend-chart")).to_have_attribute("data-weeks", re.compile(r"^\d+$"))
    screenshots(page, "department")

    # By township: the map shaded in five classes with its legend; then by overdue share.
    page.get_by_test_id("by-township").click()
    expect(page.get_by_test_id("assessment-content")).to_have_attribute("data-by", "township")
    expect(page.get_by_test_id("map-panel")).to_be_visible()
    expect(page.get_by_test_id("assessment-map")).to_have_attribute("data-ready", "1")
    shaded = page.locator("[data-testid=map-township]:not([data-class=none])")
    expect(shaded.first).to_be_attached()
    expect(page.get_by_test_id("map-class")).to_have_count(5)
    expect(page.get_by_test_id("assessment-map-legend")).to_contain_text("每万人事件数")
    shaded.first.hover()
    expect(page.locator(".leaflet-tooltip")).to_contain_text("新市镇")
    page.get_by_test_id("map-overdue_share").click()
    expect(page.get_by_test_id("assessment-map")).to_have_attribute("data-measure", "overdue_share")
    expect(page.get_by_test_id("assessment-map-legend")).to_contain_text("超期占比")
    page.get_by_test_id("sort-events_per_10k").click()
    text = page.locator(".page-assessment").inner_text()
    assert english_left(text) == "", english_left(text)
    screenshots(page, "township")

    # The link keeps the view: a reload opens the same dimension, order and map.
    assert "by=township" in page.url and "sort=events_per_10k" in page.url, page.url
    page.reload()
    expect(page.get_by_test_id("by-township")).to_have_class(re.compile(r"chip-on"))
    expect(page.locator("th[data-key=events_per_10k]")).to_have_attribute("aria-sort", "descending")
    expect(page.get_by_test_id("assessment-map")).to_have_attribute("data-measure", "overdue_share")

    with page.expect_download() as downloading:
        page.get_by_test_id("export-workbook").click()
    saved = downloading.value
    first, last = expected["first"], expected["last"]
    assert saved.suggested_filename == f"考核_{first}_{last}.xlsx", saved.suggested_filename
    path = tmp_path / "book.xlsx"
    saved.save_as(path)
    assert "红黑榜" in load_workbook(path).sheetnames
    expect(page.get_by_test_id("export-note")).to_contain_text("已下载")
    assert problems == [], problems


def test_a_department_clerk_on_a_phone_sees_only_its_own_row(
    sign_in: SignIn, api: Api, service: Service, responses: ResponseWatch, screenshots: Any
) -> None:
    two_outcomes(api)
    (own,) = assessment(api, "zhifa")["rows"]
    page = sign_in("zhifa", phone=True)
    page.get_by_test_id("nav-assessment").click()
    rows = page.get_by_test_id("assessment-row")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-name", ZHIFA)
    expect(page.get_by_test_id("assessment-scope")).to_contain_text("本部门")
    expect(rows.locator("td[data-measure=parts]")).to_have_text(str(int(own["values"]["parts"])))
    drawn(page, "bar-chart")
    no_sideways_scroll(page)
    box = page.get_by_test_id("assessment-table-box")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth"), "the table should scroll in its box"
    screenshots(page, "phone")
    page.goto(f"{service.url}/#/assessment?from=2020-01-01&to=2020-01-31")
    expect(page.get_by_test_id("assessment-empty")).to_contain_text("期间没有派单")
    expect(page.get_by_test_id("assessment-content")).to_be_hidden()
    no_sideways_scroll(page)
    # Errors in Chinese: the page's own check, then the server's refusal of a date too early.
    page.goto(f"{service.url}/#/assessment?from=2020-02-01&to=2020-01-31")
    expect(page.get_by_test_id("assessment-error")).to_have_text("起始日期不能晚于截止日期")
    responses.allow(r"/api/reports/", 422)
    page.goto(f"{service.url}/#/assessment?from=1999-12-01&to=2020-01-31")
    expect(page.get_by_test_id("assessment-error")).to_contain_text("日期应在")
    expect(page.get_by_test_id("assessment-content")).to_be_hidden()
