"""Measure the assessment over a large county's year on PostgreSQL; prints a few lines.

    python bench/reports.py [--events 1000000] [--repeat 3] [--baseline/--no-baseline]

Fills a scratch database with --events events spread over the last 365 days (set-based, see
bench/harness/bulk.py: about 1.7 parts per event, notices and extension requests on some),
then times, in one run:

- storing every day's facts (dispatch/jobs/scheduler.store_report_days, round after round,
  as the scheduler does after a year is imported at once);
- the assessment (dispatch/reports/assessment.assess) for the whole year by department,
  unit, township, matter and platform, from the stored days: best and median of --repeat;
- the same by department with one day changed since it was stored (built live, the rest
  stored): what a reader sees after a department fed back on a past day's part;
- storing one day again (what the scheduler does for each changed day);
- the same facts built live from the parts, without roll-ups (reports.facts.collect), once;
- the baseline: loading the same year's parts and their events through the ORM and counting
  the part measures in Python (what a report without set-based SQL would do), once.

It prints figures and never decides pass or fail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, col, select

from bench.harness.bulk import fill
from bench.harness.db import load_demo_database, scratch_database
from bench.harness.processes import say
from dispatch.core.clock import local_date
from dispatch.core.db import make_engine
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.jobs.scheduler import store_report_days
from dispatch.reports.assessment import Dimension, assess
from dispatch.reports.collect import collect
from dispatch.reports.facts import WHOLE, measures
from dispatch.reports.models import ReportDirtyDay
from dispatch.reports.periods import Period
from dispatch.reports.rollup import refresh_day
from dispatch.reports.scope import ReportScope


def baseline(session: Session, span: Period, now: datetime) -> int:
    """Load the period's parts and events as objects and count the part measures in Python."""
    rows = session.exec(
        select(Assignment, Event)
        .join(Event, col(Event.id) == col(Assignment.event_id))
        .where(col(Assignment.created_at) >= span.start, col(Assignment.created_at) < span.end)
    ).all()
    counts: Counter[tuple[int, str]] = Counter()
    for part, event in rows:
        if part.status == AssignmentStatus.CANCELLED and part.returns == 0:
            continue
        key = part.department_id
        counts[key, "parts"] += 1
        counts[key, "completed"] += part.status == AssignmentStatus.FED_BACK
        counts[key, "returned"] += part.returns > 0
        if part.sign_by and (part.answered_at or part.sign_by <= now):
            counts[key, "due_for_signing"] += 1
            counts[key, "signed_on_time"] += bool(
                part.answered_at and part.answered_at <= part.sign_by
            )
        counts[key, "rated"] += event.rating is not None
    return len(rows)


def main() -> int:
    """Fill, time and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    span = Period(local_date(start), local_date(now - timedelta(days=1)))
    with scratch_database("sipingtai_bench_reports") as url:
        load_demo_database(url)
        began = time.perf_counter()
        fill(url, events=args.events, start=start, end=now - timedelta(days=1))
        filled = time.perf_counter() - began
        engine = make_engine(url)
        began = time.perf_counter()
        days = 0
        while stored := store_report_days(engine):
            days += stored
            say(f"stored {days} days")
        store_all = time.perf_counter() - began
        figures: list[tuple[str, int, list[float]]] = [
            ("store every day (scheduler rounds)", days, [store_all])
        ]
        for by in Dimension:
            times = []
            for _ in range(args.repeat):
                with Session(engine) as session:
                    t = time.perf_counter()
                    found = assess(session, ReportScope(), span, by, now=now)
                    times.append(time.perf_counter() - t)
            figures.append((f"assessment by {by.value}", len(found.rows), times))
            say(f"{by.value}: best {min(times):.3f} s, {found.total.values['parts']} parts")
        changed = span.last - timedelta(days=30)
        with Session(engine) as session:
            session.add(ReportDirtyDay(day=changed))
            session.commit()
            t = time.perf_counter()
            found = assess(session, ReportScope(), span, Dimension.DEPARTMENT, now=now)
            figures.append(
                ("by department, one day changed", len(found.rows), [time.perf_counter() - t])
            )
            t = time.perf_counter()
            refresh_day(session, changed)
            session.commit()
            figures.append(("store one day again", 1, [time.perf_counter() - t]))
            t = time.perf_counter()
            facts = collect(session, span.start, span.end, kinds=(Dimension.DEPARTMENT, WHOLE))
            rows = facts[Dimension.DEPARTMENT].rows()
            for row in rows.values():
                measures(row, now, reported=False)
            figures.append(
                ("by department, built live (no roll-ups)", len(rows), [time.perf_counter() - t])
            )
        if args.baseline:
            with Session(engine) as session:
                t = time.perf_counter()
                loaded = baseline(session, span, now)
                figures.append(
                    ("baseline: ORM load + Python count", loaded, [time.perf_counter() - t])
                )
        engine.dispose()

    print(
        f"assessment over {args.events:,} events, one year (PostgreSQL); filled in {filled:.0f} s"
    )
    print(f"  {'what':<42} {'rows':>9} {'best s':>8} {'median s':>9}")
    for label, count, times in figures:
        print(f"  {label:<42} {count:>9,} {min(times):>8.3f} {statistics.median(times):>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
