"""The 台账 ledger exports: a small loop as CSV and XLSX, its columns, scoping and filters."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from xlsxwriter.utility import _datetime_to_excel_datetime

from dispatch.core.clock import CHINA_TZ, beijing_text, utcnow
from dispatch.events.models import Assignment, Event, Step
from dispatch.events.service import EventFilter
from dispatch.ledger import rows as ledger_rows
from dispatch.ledger.columns import COLUMNS, HEADERS
from dispatch.ledger.export import beijing_minute, csv_chunks, prepare_export, safe_text
from dispatch.reports.workbook import excel_time
from dispatch.users.models import UserRole
from dispatch.users.policy import Actor
from tests.loop_fixtures import Loop
from tests.service.test_event_list import SHAHE, listed, mark, post
from tests.service.test_loop import act, assignment, event

CSV_URL = "/api/exports/ledger.csv"
XLSX_URL = "/api/exports/ledger.xlsx"


def export_csv(loop: Loop, user: str = "centre", **params: Any) -> list[dict[str, str]]:
    """Return the CSV ledger's rows, by header, as a user exports it with these filters."""
    response = loop.client.get(CSV_URL, params=params, headers=loop.token(user))
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == HEADERS
    return [dict(zip(HEADERS, r, strict=True)) for r in table[1:]]


def ids(rows: list[dict[str, str]]) -> list[int]:
    """Return the rows' event ids."""
    return [int(r["事件编号"]) for r in rows]


def full_loop(loop: Loop, word: str) -> int:
    """Take an event through signing, a failed check, rework, closing and a rating of 4."""
    event_id = post(loop, word)
    loop.run_worker()
    detail = event(loop, event_id)
    lead, co = assignment(detail, "lead"), assignment(detail, "co")
    territorial = assignment(detail, "territorial")
    act(loop, "zhifa", f"assignments/{lead['id']}/sign")
    act(loop, "shichang", f"assignments/{co['id']}/sign")
    act(loop, "township", f"assignments/{territorial['id']}/sign")
    for _ in range(2):
        act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "已劝离摊贩"})
        act(loop, "shichang", f"assignments/{co['id']}/feedback", {"note": "已登记"})
        act(loop, "township", f"assignments/{territorial['id']}/feedback", {"note": "已巡查"})
        if _ == 0:
            act(loop, "township", f"events/{event_id}/verify", {"passed": False, "note": "又来了"})
    act(loop, "township", f"events/{event_id}/verify", {"passed": True})
    act(loop, "township", f"events/{event_id}/close")
    act(loop, "centre", f"events/{event_id}/rate", {"rating": 4, "note": "基本满意"})
    return event_id


def late_to_sign(loop: Loop, word: str) -> int:
    """Report an event whose lead part waits for signing an hour past its sign-by."""
    event_id = post(loop, word)
    loop.run_worker()
    with Session(loop.engine) as session:
        session.exec(
            update(Assignment)
            .where(col(Assignment.event_id) == event_id)
            .values(sign_by=utcnow() - timedelta(hours=1))
        )
        session.commit()
    return event_id


def when(moment: datetime | None) -> str:
    """Write a moment as the CSV does."""
    return beijing_text(moment) if moment is not None else ""


def test_the_csv_ledger_holds_each_column_of_a_known_loop(loop: Loop) -> None:
    word = mark()
    done = full_loop(loop, word)
    waiting = late_to_sign(loop, word)
    response = loop.client.get(CSV_URL, params={"q": word}, headers=loop.token("centre"))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in response.headers  # streamed
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]).startswith("台账_截至")
    rows = {int(r["事件编号"]): r for r in export_csv(loop, q=word)}
    assert list(rows) == [done, waiting]  # by event id

    with Session(loop.engine) as session:
        e = session.get(Event, done)
        assert e is not None
        parts = session.exec(select(Assignment).where(Assignment.event_id == done)).all()
        steps = session.exec(
            select(Step).where(Step.event_id == done).order_by(col(Step.at), col(Step.id))
        ).all()
    lead = next(p for p in parts if p.role == "lead")
    first_lead_sign = next(s.at for s in steps if s.action == "sign" and s.assignment_id == lead.id)
    row = rows[done]
    assert row["上报时间"] == "2026/11/20 09:30"
    assert row["受理时间"] == when(e.received_at)
    assert row["事项编码"] == "C-004" and row["事项名称"]
    assert row["乡镇"] == "新市镇" and row["村（社区）"] and row["网格"]
    assert row["描述"].startswith(word)
    assert row["状态"] == "已回访"
    assert "执法中队" in row["牵头部门"]
    assert row["协办部门"].endswith("市场监管所")  # the stationed unit, by its own name
    assert row["属地"].startswith("新市镇")
    assert row["派单时间"] == when(min(p.created_at for p in parts))
    assert row["签收时间"] == when(first_lead_sign)
    assert row["反馈时间"] == when(max(p.fed_back_at for p in parts if p.fed_back_at))
    assert row["核查时间"] == when([s.at for s in steps if s.action == "verify_pass"][-1])
    assert row["办结时间"] == when(e.closed_at) != ""
    assert row["签收时限"] == when(lead.sign_by) and row["办结时限"] == when(lead.handle_by)
    assert row["签收超期"] == "否" and row["办结超期"] == "否"
    assert row["重办次数"] == "1" and row["评价"] == "4"
    assert row["清单版本"].isdigit()
    assert row["是否销号"] == "是"

    late = rows[waiting]
    assert late["状态"] == "已派单" and late["签收时间"] == "" and late["办结时间"] == ""
    assert late["签收超期"] == "是" and late["是否销号"] == "否"
    assert late["重办次数"] == "0" and late["评价"] == ""


def test_the_xlsx_ledger_reads_back_with_dates_a_frozen_header_and_a_filter(loop: Loop) -> None:
    word = mark()
    done = full_loop(loop, word)
    waiting = late_to_sign(loop, word)
    response = loop.client.get(XLSX_URL, params={"q": word}, headers=loop.token("centre"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["台账"]
    sheet = book["台账"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
    table = list(sheet.iter_rows(values_only=True))
    assert table[0] == HEADERS
    rows = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in table[1:]}
    assert list(rows) == [done, waiting]
    with Session(loop.engine) as session:
        e = session.get(Event, done)
        assert e is not None and e.closed_at is not None
    row = rows[done]
    assert row["上报时间"] == datetime(2026, 11, 20, 9, 30)  # Beijing time, as a date cell
    closed = e.closed_at.astimezone(CHINA_TZ).replace(tzinfo=None)
    assert abs(row["办结时间"] - closed) < timedelta(milliseconds=1)
    assert row["重办次数"] == 1 and row["评价"] == 4 and row["是否销号"] == "是"
    assert row["签收超期"] == "否"
    assert rows[waiting]["签收超期"] == "是" and rows[waiting]["评价"] is None


def test_each_user_exports_what_the_events_list_shows_them(loop: Loop) -> None:
    word = mark()
    here = post(loop, word)  # 执法中队 leads, 市场监管 cooperates
    there = post(loop, word, SHAHE, matter_code="B-004", description=f"{word} 无照经营的小店")
    loop.run_worker()
    assert ids(export_csv(loop, "centre", q=word)) == [here, there]
    assert ids(export_csv(loop, "bianban", q=word)) == [here, there]
    assert ids(export_csv(loop, "township", q=word)) == [here]
    assert ids(export_csv(loop, "zhifa", q=word)) == [here]
    assert ids(export_csv(loop, "shichang", q=word)) == [here, there]
    for user in ("centre", "township", "zhifa", "shichang"):
        assert ids(export_csv(loop, user, q=word)) == sorted(listed(loop, user, q=word))
    for url in (CSV_URL, XLSX_URL):
        refused = loop.client.get(url, params={"q": word}, headers=loop.token("grid"))
        assert refused.status_code == 403
        assert "网格员" in refused.json()["detail"]["message"]
    assert loop.client.get(CSV_URL).status_code == 401


def test_the_filters_are_those_of_the_events_list(loop: Loop) -> None:
    word = mark()
    routed = full_loop(loop, word)
    waiting = late_to_sign(loop, word)
    market = post(loop, word, SHAHE, matter_code="B-004", description=f"{word} 无照经营的小店")
    loop.run_worker()
    queries: list[dict[str, Any]] = [
        {},
        {"status": "rated"},
        {"status": ["dispatched", "rated"]},
        {"township": SHAHE},
        {"matter": "B-004"},
        {"platform": "zhifa"},
        {"overdue": "true"},
        {"overdue": "false"},
        {"since": "2026-01-01T00:00:00+08:00"},
        {"until": "2026-01-01T00:00:00+08:00"},
    ]
    for query in queries:
        expected = sorted(listed(loop, q=word, **query))
        assert ids(export_csv(loop, q=word, **query)) == expected, query
    assert ids(export_csv(loop, q=word, overdue="true")) == [waiting]
    assert set(ids(export_csv(loop, q=word))) == {routed, waiting, market}
    # Every overdue event the list names carries one of the ledger's overdue flags.
    for row in export_csv(loop, q=word, overdue="true"):
        assert "是" in (row["签收超期"], row["办结超期"])


def test_from_and_to_are_china_calendar_days_of_receipt(loop: Loop) -> None:
    word = mark()
    early, late, outside = post(loop, word), post(loop, word), post(loop, word)
    with Session(loop.engine) as session:
        for event_id, moment in (
            (early, datetime(2026, 10, 31, 16, 0, tzinfo=UTC)),  # 11-01 00:00 in Beijing
            (late, datetime(2026, 11, 30, 15, 59, tzinfo=UTC)),  # 11-30 23:59 in Beijing
            (outside, datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),  # 12-01 00:00 in Beijing
        ):
            session.exec(update(Event).where(col(Event.id) == event_id).values(received_at=moment))
        session.commit()
    params = {"q": word, "from": "2026-11-01", "to": "2026-11-30"}
    assert ids(export_csv(loop, **params)) == [early, late]
    response = loop.client.get(CSV_URL, params=params, headers=loop.token("centre"))
    name = unquote(response.headers["content-disposition"].split("filename*=UTF-8''")[1])
    assert name == "台账_2026-11-01_2026-11-30.csv"
    fallback = response.headers["content-disposition"].split('filename="')[1].split('"')[0]
    assert fallback.isascii() and fallback.endswith("2026-11-01_2026-11-30.csv")
    # since/until narrow the period further.
    narrowed = {**params, "since": "2026-11-15T00:00:00+08:00"}
    assert ids(export_csv(loop, **narrowed)) == [late]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-31"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-12-01", "to": "2026-11-01"}, "from"),
        ({"from": "1999-12-31"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"status": "nope"}, "status"),
        ({"overdue": "maybe"}, "overdue"),
        ({"since": "0001-01-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(
    loop: Loop, params: dict[str, str], field: str
) -> None:
    for url in (CSV_URL, XLSX_URL):
        response = loop.client.get(url, params=params, headers=loop.token("centre"))
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert field in detail["field"].split("."), detail
        assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["message"]), detail


def test_cells_a_spreadsheet_would_run_are_quoted(loop: Loop) -> None:
    word = mark()
    formula = post(
        loop,
        word,
        description=f'=HYPERLINK("http://example.com","{word}")',
        address="+86 123",
    )
    minus = post(loop, word, description=f"-1+1 {word}", address="@SUM(A1)")
    rows = {int(r["事件编号"]): r for r in export_csv(loop, q=word)}
    assert rows[formula]["描述"] == f'\'=HYPERLINK("http://example.com","{word}")'
    assert rows[formula]["地址"] == "'+86 123"
    assert rows[minus]["描述"] == f"'-1+1 {word}" and rows[minus]["地址"] == "'@SUM(A1)"
    assert safe_text("路边=摊贩") == "路边=摊贩"
    # In the workbook a text cell is a string, never a formula: it keeps its text as written.
    response = loop.client.get(XLSX_URL, params={"q": word}, headers=loop.token("centre"))
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["台账"]
    descriptions = [r[HEADERS.index("描述")] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert descriptions[0].startswith("=HYPERLINK") and sheet.cell(2, 11).data_type == "s"


def test_the_csv_is_streamed_a_batch_at_a_time(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    word = mark()
    reported = [post(loop, word) for _ in range(5)]
    centre = Actor(id=0, role=UserRole.COMMAND_CENTRE)
    with Session(loop.engine) as session:
        export = prepare_export(session, centre, EventFilter(text=word))
    chunks = list(csv_chunks(loop.engine, export, batch_size=2))
    # The BOM and header, then one chunk per batch of two events: 2, 2, 1.
    assert len(chunks) == 4
    assert chunks[0].startswith(b"\xef\xbb\xbf") and chunks[0].decode("utf-8-sig").count("\n") == 1
    assert [c.decode().count("\r\n") for c in chunks[1:]] == [2, 2, 1]
    body = b"".join(chunks).decode("utf-8-sig")
    assert [int(r[0]) for r in list(csv.reader(io.StringIO(body)))[1:]] == reported
    # Over HTTP the same batches: the default batch size set small, the rows the same.
    monkeypatch.setattr(ledger_rows, "BATCH_SIZE", 2)
    assert ids(export_csv(loop, q=word)) == reported
    # A download abandoned after its first batch leaves no reader thread behind.
    abandoned = csv_chunks(loop.engine, export, batch_size=1)
    assert next(abandoned).startswith(b"\xef\xbb\xbf") and next(abandoned)
    abandoned.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("ledger")]


def test_every_column_is_defined_once_with_its_meaning() -> None:
    assert len(set(HEADERS)) == len(HEADERS)
    assert all(c.meaning for c in COLUMNS)
    expected = {"事件编号", "上报时间", "事项编码", "事项名称", "平台", "乡镇", "村（社区）"}
    expected |= {"网格", "地址", "描述", "状态", "牵头部门", "协办部门", "属地", "派单时间"}
    expected |= {"签收时间", "反馈时间", "核查时间", "办结时间", "签收时限", "办结时限"}
    expected |= {"签收超期", "办结超期", "重办次数", "评价", "清单版本", "是否销号"}
    assert expected <= set(HEADERS)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, 59, tzinfo=UTC),  # the new year in Beijing
        datetime(2026, 3, 1, 9, 5, tzinfo=CHINA_TZ),
        datetime(2026, 6, 30, 15, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_the_csv_writes_times_as_beijing_text_does(moment: datetime) -> None:
    assert beijing_minute(moment) == beijing_text(moment)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 20, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC),
    ],
)
def test_the_workbook_writes_times_as_xlsxwriter_would(moment: datetime) -> None:
    local = moment.astimezone(CHINA_TZ).replace(tzinfo=None)
    assert excel_time(moment) == _datetime_to_excel_datetime(local, False, False)
