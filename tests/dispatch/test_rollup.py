"""The daily roll-ups: stored days give the live figures, and every change marks its days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, func, select

from dispatch.core.clock import local_date
from dispatch.core.db import make_engine
from dispatch.demo.history import write_history
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.jobs.scheduler import store_report_days
from dispatch.reports import facts as facts_module
from dispatch.reports import rollup
from dispatch.reports.assessment import Dimension, assess
from dispatch.reports.collect import collect
from dispatch.reports.facts import KINDS, TOTAL, WHOLE
from dispatch.reports.models import ReportDay, ReportDirtyDay
from dispatch.reports.periods import Period, period
from dispatch.reports.scope import ReportScope
from tests.conftest import demo_database
from tests.reports_recompute import differences, recompute

END = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # in the past: every day of it has settled
AS_OF = END + timedelta(days=2)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A demo database holding a month of history, nothing stored yet."""
    with demo_database(tmp_path_factory.mktemp("rollup"), "rollup") as url:
        engine = make_engine(url)
        write_history(engine, events=70, months=1, seed=11, end=END)
        yield engine
        engine.dispose()


def _span(session: Session) -> Period:
    first = session.exec(select(func.min(col(Event.received_at)))).one()
    assert first is not None
    return period(local_date(first), local_date(END))


def _rows(found: Any) -> list[dict[str, Any]]:
    return [{"key": r.key, "values": r.values} for r in found.rows]


def _stored_days(session: Session) -> set[date]:
    return set(session.exec(select(col(ReportDay.day)).where(col(ReportDay.kind) == WHOLE)).all())


def _marks(session: Session) -> set[date]:
    return set(session.exec(select(col(ReportDirtyDay.day))).all())


def test_the_history_left_marks_and_nothing_is_stored_until_the_scheduler_runs(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        span = _span(session)
        assert _stored_days(session) == set()
        marks = _marks(session)
    # Every day the history wrote to is marked; none after its end.
    assert marks and max(marks) <= local_date(END)
    assert min(marks) == span.first


def test_the_scheduler_stores_the_settled_days_a_month_a_round(engine: Engine) -> None:
    rounds = []
    while stored := store_report_days(engine):
        rounds.append(stored)
        assert len(rounds) < 10
    assert rounds and all(0 < n <= rollup.MOST_DAYS for n in rounds)
    with Session(engine) as session:
        span = _span(session)
        assert _stored_days(session) >= {span.first, span.last}
        assert {d for d in _marks(session) if d < rollup.settled_before(datetime.now(UTC))} == set()


@pytest.mark.parametrize("by", list(Dimension))
def test_stored_days_give_exactly_the_live_assessment_and_the_steps_replay(
    engine: Engine, by: Dimension, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        span = _span(session)
        live = assess(session, ReportScope(), span, by, now=AS_OF)
        rollup.refresh(session, most=10_000)
        session.commit()
        assert _stored_days(session) >= {
            span.first + timedelta(days=i) for i in range((span.last - span.first).days + 1)
        }
        assert {d for d in _marks(session) if d <= span.last} == set()
        built: list[tuple[datetime, datetime]] = []

        def counting(session: Session, start: datetime, end: datetime, **kw: Any) -> Any:
            built.append((start, end))
            return collect(session, start, end, **kw)

        monkeypatch.setattr(rollup, "collect", counting)
        stored = assess(session, ReportScope(), span, by, now=AS_OF)
        expected = recompute(session, span, by.value, AS_OF)
    assert built == []  # every day came from the roll-ups
    assert _rows(stored) == _rows(live)
    assert stored.total.values == live.total.values
    assert differences(_rows(stored), expected) == []


def test_a_change_on_a_stored_day_marks_it_and_the_report_sees_it_at_once(engine: Engine) -> None:
    with Session(engine) as session:
        span = _span(session)
        rollup.refresh(session, most=10_000)
        session.commit()
        before = assess(session, ReportScope(), span, Dimension.DEPARTMENT, now=AS_OF)
        part = session.exec(
            select(Assignment)
            .where(col(Assignment.status) == AssignmentStatus.FED_BACK)
            .order_by(col(Assignment.id))
        ).first()
        assert part is not None
        day = local_date(part.created_at)
        event = session.get(Event, part.event_id)
        assert event is not None
        event.rating = 1 if event.rating != 1 else 5
        session.add(event)
        session.flush()
        assert day in _marks(session)
        after = assess(session, ReportScope(), span, Dimension.DEPARTMENT, now=AS_OF)
        session.execute(text("DELETE FROM report_day"))  # nothing stored: all built live
        live = assess(session, ReportScope(), span, Dimension.DEPARTMENT, now=AS_OF)
        assert _rows(after) == _rows(live) and after.total.values == live.total.values
        changed = ("mean_rating", "satisfied", "rated")
        assert [after.total.values[m] for m in changed] != [before.total.values[m] for m in changed]
        # The scheduler stores the day again and takes its mark away; the figures stay.
        assert rollup.refresh(session, most=10_000) >= 1
        assert day not in _marks(session)
        again = assess(session, ReportScope(), span, Dimension.DEPARTMENT, now=AS_OF)
        assert _rows(again) == _rows(after)
        session.rollback()


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("supervision_notice", "DELETE FROM supervision_notice WHERE id = :id"),
        ("extension_request", "UPDATE extension_request SET status = 'refused' WHERE id = :id"),
        ("dispute", "UPDATE dispute SET status = 'withdrawn' WHERE id = :id"),
        ("escalation", "UPDATE escalation SET responded_at = NULL WHERE id = :id"),
        ("assignment", "UPDATE assignment SET reworks = reworks + 1 WHERE id = :id"),
        ("event", "UPDATE event SET status = 'invalid' WHERE id = :id"),
    ],
)
def test_every_kind_of_change_marks_the_days_of_the_parts_it_touches(
    engine: Engine, table: str, change: str
) -> None:
    """The triggers of migration 0010: a write of any table the facts read marks its days."""
    part_of = {
        "supervision_notice": "assignment_id",
        "extension_request": "assignment_id",
        "escalation": "response_assignment_id",
    }
    with Session(engine) as session:
        if table in part_of:
            row = session.execute(
                text(
                    f"SELECT t.id, a.created_at FROM {table} t"
                    f" JOIN assignment a ON a.id = t.{part_of[table]} ORDER BY t.id LIMIT 1"
                )
            ).first()
        elif table == "dispute":
            row = session.execute(
                text(
                    "SELECT d.id, a.created_at FROM dispute d JOIN dispute_party p"
                    " ON p.dispute_id = d.id JOIN assignment a ON a.id = p.assignment_id"
                    " ORDER BY d.id LIMIT 1"
                )
            ).first()
        elif table == "assignment":
            row = session.execute(
                text("SELECT id, created_at FROM assignment ORDER BY id LIMIT 1")
            ).first()
        else:
            row = session.execute(
                text(
                    "SELECT e.id, a.created_at FROM event e JOIN assignment a"
                    " ON a.event_id = e.id ORDER BY e.id LIMIT 1"
                )
            ).first()
        assert row is not None, f"the history wrote no {table}"
        row_id, created = row
        session.execute(text("DELETE FROM report_dirty_day"))
        session.execute(text(change), {"id": row_id})
        marks = _marks(session)
        session.rollback()
    created_at = created if isinstance(created, datetime) else datetime.fromisoformat(created)
    assert local_date(created_at.replace(tzinfo=created_at.tzinfo or UTC)) in marks


def test_today_is_never_stored_and_always_built_live(engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        rollup.refresh(session, now=now, most=10_000)
        assert local_date(now) not in _stored_days(session)
        assert rollup.settled_before(now) <= local_date(now)
        session.rollback()


def test_a_day_stored_in_another_layout_is_built_live_instead(engine: Engine) -> None:
    with Session(engine) as session:
        span = _span(session)
        day = collect(session, span.start, Period(span.first, span.first).end, kinds=KINDS)
    header, body = rollup.encode(day[WHOLE])
    back = rollup.decode(header, body)
    assert back is not None
    assert facts_module.measures(back.rows()[TOTAL], AS_OF, reported=True) == (
        facts_module.measures(day[WHOLE].rows()[TOTAL], AS_OF, reported=True)
    )
    assert rollup.decode({**header, "counts_are": ["parts"]}, body) is None
    assert rollup.decode({**header, "layout": rollup.LAYOUT + 1}, body) is None


def test_the_facts_of_every_day_merge_to_the_facts_of_the_whole_span(engine: Engine) -> None:
    """Distinct events and durations over merged days are those of the whole span, not sums."""
    with Session(engine) as session:
        span = _span(session)
        whole = collect(session, span.start, span.end, kinds=KINDS)
        days = facts_module.empty_facts()
        for i in range((span.last - span.first).days + 1):
            one = Period(span.first + timedelta(days=i), span.first + timedelta(days=i))
            facts_module.merge(days, collect(session, one.start, one.end, kinds=KINDS))
    halves = days
    shared = 0
    for kind in KINDS:
        mine, theirs = whole[kind].rows(), halves[kind].rows()
        assert set(mine) == set(theirs)
        for key, row in mine.items():
            a = facts_module.measures(row, AS_OF, reported=True)
            b = facts_module.measures(theirs[key], AS_OF, reported=True)
            assert a == b, (kind, key)
            shared += theirs[key].values("events_shared").size
    # Some events have parts on several days: the merge had ids to count once.
    assert shared > 0
