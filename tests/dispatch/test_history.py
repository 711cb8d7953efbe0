"""`sipingtai demo history`: a past written by the real loop, every part agreeing with its steps."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from dispatch.core.clock import as_utc, local_date
from dispatch.core.db import make_engine
from dispatch.core.errors import Conflict
from dispatch.demo.history import HistoryReport, write_history
from dispatch.disputes.models import Dispute, DisputeStatus, ListChange
from dispatch.events.models import (
    Assignment,
    AssignmentStatus,
    Escalation,
    Event,
    ExtensionRequest,
    Step,
    SupervisionNotice,
)
from dispatch.reports.assessment import Dimension, assess
from dispatch.reports.periods import period
from dispatch.reports.scope import ReportScope
from dispatch.users.models import User
from tests.conftest import demo_database
from tests.reports_recompute import differences, recompute

END = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, in the past
MONTHS = 2


@dataclass
class History:
    """A demo database holding one written history."""

    engine: Engine
    report: HistoryReport


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Write a small history (130 events over 2 months) into a fresh demo database."""
    with demo_database(tmp_path_factory.mktemp("history"), "history") as url:
        engine = make_engine(url)
        seen: list[tuple[int, int]] = []
        report = write_history(
            engine,
            events=130,
            months=MONTHS,
            seed=7,
            end=END,
            progress=lambda done, total: seen.append((done, total)),
        )
        assert seen and seen[-1] == (130, 130)
        yield History(engine, report)
        engine.dispose()


def test_every_part_agrees_with_its_steps(history: History) -> None:
    with Session(history.engine) as session:
        parts = session.exec(select(Assignment)).all()
        steps: dict[int, list[Step]] = {}
        for step in session.exec(
            select(Step).where(col(Step.assignment_id).is_not(None)).order_by(col(Step.id))
        ).all():
            assert step.assignment_id is not None
            steps.setdefault(step.assignment_id, []).append(step)
    assert len(parts) >= history.report.assignments > 0
    for part in parts:
        assert part.id is not None
        mine = steps[part.id]
        moved = [s for s in mine if s.to_status is not None]
        assert moved[-1].to_status == part.status, (part.id, [s.action for s in mine])
        actions = {s.action: as_utc(s.at) for s in mine}
        if part.signed_at is not None:
            signs = [as_utc(s.at) for s in mine if s.action == "sign"]
            assert as_utc(part.signed_at) in signs
        if part.fed_back_at is not None:
            feedbacks = [as_utc(s.at) for s in mine if s.action == "feed_back"]
            assert as_utc(part.fed_back_at) in feedbacks
        if part.status == AssignmentStatus.RETURNED:
            assert moved[-1].action == "return"
        if part.returns:
            assert sum(1 for s in mine if s.action == "return") == part.returns
        if part.status == AssignmentStatus.FED_BACK:
            assert "feed_back" in actions


def test_every_time_is_in_the_past_and_within_the_months_asked(history: History) -> None:
    start = END - timedelta(days=30 * MONTHS)
    assert history.report.started == start and history.report.ended == END
    with Session(history.engine) as session:
        times = [as_utc(at) for at in session.exec(select(Step.at).order_by(col(Step.id)))]
        assert times == sorted(times)  # the past was written in the order it happened
        first, last = session.exec(select(func.min(Step.at), func.max(Step.at))).one()
        reported = session.exec(select(func.min(Event.reported_at), func.max(Event.received_at)))
        earliest, latest = reported.one()
    assert start <= as_utc(first) and as_utc(last) <= END < datetime.now(UTC)
    assert start <= as_utc(earliest) and as_utc(latest) <= END


def test_each_kind_of_past_is_there(history: History) -> None:
    with Session(history.engine) as session:

        def count(query: object) -> int:
            return int(session.exec(query).one())  # type: ignore[call-overload]

        parts = session.exec(select(Assignment)).all()
        events = count(select(func.count()).select_from(Event))
        shares = {
            "returned": sum(1 for p in parts if p.returns),
            "disputed": count(select(func.count()).select_from(Dispute)),
            "ruled": count(select(func.count()).where(col(Dispute.status) == DisputeStatus.RULED)),
            "list_changes": count(select(func.count()).select_from(ListChange)),
            "extended": count(select(func.count()).select_from(ExtensionRequest)),
            "supervised_by_hand": count(
                select(func.count()).where(col(SupervisionNotice.automatic).is_(False))
            ),
            "supervised_by_rule": count(
                select(func.count()).where(col(SupervisionNotice.automatic).is_(True))
            ),
            "failed_verification": count(select(func.count()).where(col(Event.rework_count) > 0)),
            "rated": count(select(func.count()).where(col(Event.rating).is_not(None))),
            "escalated": count(select(func.count()).select_from(Escalation)),
            "signed_late": sum(
                1 for p in parts if p.signed_at and p.sign_by and p.signed_at > p.sign_by
            ),
            "fed_back_late": sum(
                1 for p in parts if p.fed_back_at and p.handle_by and p.fed_back_at > p.handle_by
            ),
            "still_open": sum(
                1 for p in parts if p.status in (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
            ),
        }
        ratings = session.exec(select(Event.rating).where(col(Event.rating).is_not(None))).all()
    assert events == 130
    assert all(shares.values()), shares
    assert shares["returned"] < events / 2 and shares["rated"] > events / 3, shares
    assert sum(1 for r in ratings if r is not None and r >= 4) > len(ratings) / 2
    assert not history.report.refused or sum(history.report.refused.values()) < events / 10


def test_a_second_history_is_refused(history: History) -> None:
    with pytest.raises(Conflict):
        write_history(history.engine, events=5, months=1, seed=8, end=END)


def test_the_same_seed_writes_the_same_past(tmp_path: Path) -> None:
    runs = []
    for label in ("first", "second"):
        with demo_database(tmp_path, label) as url:
            engine = make_engine(url)
            try:
                runs.append(write_history(engine, events=30, months=1, seed=11, end=END))
                with Session(engine) as session:
                    steps = session.exec(select(Step.action, Step.at).order_by(col(Step.id)))
                    runs[-1].counts["steps"] = len(steps.all())
            finally:
                engine.dispose()
    first, second = runs
    assert first.counts == second.counts and first.assignments == second.assignments
    assert first.counts["steps"] > 30 * 5


def test_the_command_writes_a_history(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dispatch.core.settings import get_settings
    from service.cli import app

    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["demo", "history", "--events", "12", "--months", "1", "--seed", "3"]
        )
        repeated = CliRunner().invoke(app, ["demo", "history", "--events", "12"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "历史已写入" in result.output and "12 件事件" in result.output
    assert "签收 signed:" in result.output
    assert repeated.exit_code == 2 and "已有示例历史" in repeated.output


@pytest.mark.parametrize("by", list(Dimension))
def test_every_measure_recomputed_from_the_steps_of_the_history_is_what_the_api_says(
    history: History, by: Dimension
) -> None:
    """The assessment's SQL and a plain replay of the steps agree on every row and measure."""
    span = period(local_date(history.report.started), local_date(END))
    as_of = END + timedelta(days=3)  # parts still open at the end are late by then
    with Session(history.engine) as session:
        found = assess(session, ReportScope(), span, by, now=as_of)
        expected = recompute(session, span, by.value, as_of)
    rows = [{"key": r.key, "values": r.values} for r in found.rows]
    assert differences(rows, expected) == []
    # The history is rich enough that every side path shows up in the comparison.
    total = found.total.values
    for measure in ("returned", "reworked", "rated", "extensions_asked", "disputes"):
        assert (total[measure] or 0) > 0, measure
    assert sum((total[f"notices_{level}"] or 0) for level in ("normal", "yellow", "red")) > 0


def _add_real_centre_clerk(url: str) -> int:
    """Add a person of the county's own to a demo database: a centre clerk, active."""
    from dispatch.core.db import session_scope
    from dispatch.users.models import UserRole
    from dispatch.users.service import create_user

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            clerk = create_user(
                session,
                username="wang.li",
                password="a real password 2026",
                role=UserRole.COMMAND_CENTRE,
                display_name="王丽",
            )
            assert clerk.id is not None
            return clerk.id
    finally:
        engine.dispose()


def test_a_database_with_users_of_its_own_is_refused_unless_asked(tmp_path: Path) -> None:
    with demo_database(tmp_path, "real") as url:
        clerk = _add_real_centre_clerk(url)
        engine = make_engine(url)
        try:
            with pytest.raises(Conflict) as refused:
                write_history(engine, events=8, months=1, seed=5, end=END)
            assert refused.value.code == "not_demo_database"
            assert "不是示例数据库" in refused.value.message and "wang.li" in refused.value.message
            with Session(engine) as session:
                assert session.exec(select(func.count()).select_from(Event)).one() == 0

            report = write_history(
                engine, events=8, months=1, seed=5, end=END, allow_real_data=True
            )
            with Session(engine) as session:
                actors = set(session.exec(select(Step.actor_id).distinct()).all())
                reporters = set(session.exec(select(Event.reporter_id).distinct()).all())
                centre = session.exec(select(User).where(User.username == "history.centre"))
                centre_id = centre.one().id
        finally:
            engine.dispose()
    assert report.events == 8
    # Asked for, the past is still put on demo or history users, never on a person of the
    # county's own who happens to hold the role (here the only active centre clerk).
    assert clerk not in actors | reporters and centre_id in actors


def test_the_command_refuses_a_county_of_its_own_before_loading_the_demo_into_it(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dispatch.core.db import migrate, session_scope
    from dispatch.core.settings import get_settings
    from dispatch.reference.jurisdictions import county_codes
    from service.cli import app
    from tests.two_counties import load_two_counties

    migrate(empty_database_url)
    engine = make_engine(empty_database_url)
    with session_scope(engine) as session:
        load_two_counties(session)
        before = county_codes(session)
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["demo", "history", "--events", "5", "--months", "1"])
        with Session(engine) as session:
            after = county_codes(session)
            events = session.exec(select(func.count()).select_from(Event)).one()
    finally:
        get_settings.cache_clear()
        engine.dispose()
    assert refused.exit_code == 2, refused.output
    assert "不是示例数据库" in refused.output and "示例县以外的县级辖区" in refused.output
    assert "--allow-real-data" in refused.output
    assert after == before and events == 0  # nothing loaded, nothing written


def test_report_moments_keep_inside_the_span_and_mostly_to_office_hours() -> None:
    from dispatch.core.clock import CHINA_TZ
    from dispatch.demo.history import report_moments
    from dispatch.reference.calendar import WorkCalendar

    start = datetime(2026, 11, 18, tzinfo=CHINA_TZ).astimezone(UTC)  # a Wednesday
    end = start + timedelta(days=1)
    moments = report_moments(start, end, 2000, WorkCalendar(), random.Random(1))
    assert len(moments) == 2000 and moments == sorted(moments)
    assert all(start <= m <= end for m in moments)
    hours = [m.astimezone(CHINA_TZ).hour for m in moments]
    assert all(6 <= h < 22 for h in hours)
    office = sum(8 <= h < 18 for h in hours) / len(hours)
    assert 0.88 <= office <= 0.98, office  # nine in ten drawn there, a few of the rest too
