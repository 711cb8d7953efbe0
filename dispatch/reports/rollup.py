"""The daily roll-ups: each settled day's facts stored once, read back for any period.

A day settles ten minutes after its (China) midnight; from then the scheduler stores its
facts per dimension (`refresh`). Database triggers (migration 0010) mark a settled day again
whenever anything its facts are made of changes: a part, its event, a notice, an extension
request, an escalation, a dispute or a unit's department. A report reads the stored days that
are not marked and builds the rest live (today, the marked days, days not stored yet) with the
same builder, so a report is as current as the database whether or not the scheduler runs.
A reader's own scope (a department, a township) is always built live: its parts are few.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import delete, func, select, text
from sqlmodel import Session, col

from dispatch.core.clock import local_date, utcnow
from dispatch.events.models import Assignment, Event
from dispatch.reports.collect import collect
from dispatch.reports.facts import (
    COUNTS,
    KINDS,
    VALUES,
    WHOLE,
    Facts,
    KindFacts,
    empty_facts,
    merge,
)
from dispatch.reports.grouping import is_postgres
from dispatch.reports.models import ReportDay, ReportDirtyDay
from dispatch.reports.periods import Period
from dispatch.reports.scope import ReportScope

# A transaction still open at midnight may write to the day just ended: wait this long.
SETTLE = timedelta(minutes=10)
# The most days one refresh stores (a scheduler round stays short; the rest come next round).
MOST_DAYS = 31
# The body's layout (encode); a stored day of another layout is built live, never misread.
LAYOUT = 1
# Any number, the same for every process: only one refresh stores days at a time.
_LOCK = 0x51_50_54_52  # "SPTR"


def settled_before(now: datetime) -> date:
    """Return the first day not settled yet: every earlier day may be stored."""
    return local_date(now - SETTLE)


def facts_of(
    session: Session,
    scope: ReportScope,
    span: Period,
    kinds: Iterable[str],
    *,
    now: datetime | None = None,
) -> Facts:
    """Return the facts of a period: stored days where they are current, the rest built live."""
    kinds = tuple(kinds)
    if not scope.everything:
        return collect(session, span.start, span.end, scope=scope, kinds=kinds)
    now = now or utcnow()
    last_stored = min(span.last, settled_before(now) - timedelta(days=1))
    facts = empty_facts()
    stored: set[date] = set()
    if last_stored >= span.first:
        marked = set(
            session.execute(
                select(col(ReportDirtyDay.day))
                .where(col(ReportDirtyDay.day).between(span.first, last_stored))
                .distinct()
            ).scalars()
        )
        rows = session.execute(
            select(
                col(ReportDay.day), col(ReportDay.kind), col(ReportDay.header), col(ReportDay.body)
            )
            .where(
                col(ReportDay.day).between(span.first, last_stored),
                col(ReportDay.kind).in_(kinds),
            )
            .order_by(col(ReportDay.day))
        ).all()
        found: dict[date, Facts] = {}
        for day, kind, header, body in rows:
            if day not in marked and (kept := decode(header, body)) is not None:
                found.setdefault(day, {})[kind] = kept
        stored = {day for day, day_facts in found.items() if len(day_facts) == len(kinds)}
        for day in stored:
            merge(facts, found[day])
    for run in _runs(span, stored):
        merge(facts, collect(session, run.start, run.end, kinds=kinds))
    return facts


def _runs(span: Period, stored: set[date]) -> Iterator[Period]:
    """Yield the runs of consecutive days of the period that are not stored."""
    day, first = span.first, None
    while day <= span.last:
        if day in stored:
            if first is not None:
                yield Period(first, day - timedelta(days=1))
                first = None
        elif first is None:
            first = day
        day += timedelta(days=1)
    if first is not None:
        yield Period(first, span.last)


# ---- Storing the settled days --------------------------------------------------------------


def refresh(session: Session, *, now: datetime | None = None, most: int = MOST_DAYS) -> int:
    """Store, in this transaction, the settled days marked or never stored (newest first, at
    most `most`); return how many were stored. The caller commits."""
    days = due_days(session, now=now, most=most)
    return sum(refresh_day(session, day) for day in days)


def due_days(session: Session, *, now: datetime | None = None, most: int = MOST_DAYS) -> list[date]:
    """Return the settled days to store: marked since stored, or never stored; newest first."""
    settled = settled_before(now or utcnow())
    marked = session.execute(
        select(col(ReportDirtyDay.day)).where(col(ReportDirtyDay.day) < settled).distinct()
    ).scalars()
    todo = set(marked) | set(_never_stored(session, settled))
    return sorted(todo, reverse=True)[:most]


def refresh_day(session: Session, day: date) -> bool:
    """Store one day's facts and take away the marks seen before; False if another process
    is storing days right now (on PostgreSQL, one at a time). The caller commits.

    A mark written while the day is built is not seen, so it stays and the day is stored again
    next time: a change is never lost between the reading and the storing.
    """
    if (
        is_postgres(session)
        and not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK}
        ).scalar()
    ):
        return False
    seen = list(
        session.execute(
            select(col(ReportDirtyDay.id)).where(col(ReportDirtyDay.day) == day)
        ).scalars()
    )
    store_day(session, day)
    for chunk in range(0, len(seen), 1000):
        session.execute(
            delete(ReportDirtyDay).where(col(ReportDirtyDay.id).in_(seen[chunk : chunk + 1000]))
        )
    return True


def store_day(session: Session, day: date) -> None:
    """Build one day's facts and store them, one row per dimension (and the whole)."""
    span = Period(day, day)
    facts = collect(session, span.start, span.end, kinds=KINDS)
    session.execute(delete(ReportDay).where(col(ReportDay.day) == day))
    for kind in KINDS:
        header, body = encode(facts.get(kind) or KindFacts())
        session.add(ReportDay(day=day, kind=kind, header=header, body=body))
    session.flush()


def _never_stored(session: Session, settled: date) -> list[date]:
    """Return the settled days, from the first part's or report's, with no stored facts."""
    first_at = [
        session.execute(select(func.min(col(Assignment.created_at)))).scalar(),
        session.execute(select(func.min(col(Event.received_at)))).scalar(),
    ]
    found = [local_date(at) for at in first_at if at is not None]
    if not found:
        return []
    have = set(
        session.execute(select(col(ReportDay.day)).where(col(ReportDay.kind) == WHOLE)).scalars()
    )
    day, missing = min(found), []
    while day < settled:
        if day not in have:
            missing.append(day)
        day += timedelta(days=1)
    return missing


# ---- A day's facts as a row: a JSON header and the kept values as bytes ---------------------


def encode(facts: KindFacts) -> tuple[dict[str, object], bytes]:
    """Return the header (layout and row keys) and body of one kind's facts.

    The body, int64 little-endian: the counts (a line per row), the lengths of the kept
    values (a line per value), then each kept value for every row in turn, in key order.
    Numbers in bytes, not JSON: a year of days is read in tens of milliseconds, not seconds.
    """
    counts = facts.counts()
    lengths, arrays = [], []
    for name in VALUES:
        values, bounds = facts.grouped(name)
        lengths.append(np.diff(bounds))
        arrays.append(values)
    header: dict[str, object] = {
        "layout": LAYOUT,
        "counts_are": list(COUNTS),
        "values_are": list(VALUES),
        "keys": list(facts.keys),
    }
    parts = [counts.ravel(), *lengths, *arrays]
    return header, np.concatenate(parts).astype("<i8", copy=False).tobytes()


def decode(header: dict[str, object], body: bytes) -> KindFacts | None:
    """Return the facts one stored row holds; None if it was stored in another layout (an
    older version's: the day is built live until the scheduler stores it again)."""
    if (
        header.get("layout") != LAYOUT
        or header.get("counts_are") != list(COUNTS)
        or header.get("values_are") != list(VALUES)
    ):
        return None
    keys: list[str | None] = header["keys"]  # type: ignore[assignment]
    facts = KindFacts()
    codes = facts.codes(keys)
    numbers = np.frombuffer(body, dtype="<i8")
    n_keys = len(keys)
    at = n_keys * len(COUNTS)
    if n_keys:
        facts.count_pieces.append((codes, numbers[:at].reshape(n_keys, len(COUNTS))))
    lengths = numbers[at : at + n_keys * len(VALUES)].reshape(len(VALUES), n_keys)
    at += n_keys * len(VALUES)
    for i in range(len(VALUES)):
        n = int(lengths[i].sum())
        if n:
            facts.value_pieces[i].append((numbers[at : at + n], np.repeat(codes, lengths[i])))
        at += n
    return facts
