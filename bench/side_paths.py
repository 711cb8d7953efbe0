"""Measure one scheduler round of the loop's side paths on PostgreSQL; prints a few lines.

    python bench/side_paths.py [--parts 5000] [--repeat 5]

Each round the scheduler raises the deadline warnings, issues the county rules' supervision
notices (督办) and lapses undecided extension requests (延期). This loads the demo county into a
scratch database, adds --parts live lead parts whose sign and handling deadlines passed days
ago (and a pending extension request on every tenth), and times, in one run:

- the baseline: reading the ids of every live part (the least any scan of them costs);
- the first round of each step, which finds everything due and writes it (a warning, three
  notices, a lapse, each with its step);
- the steady round of the notices, when nothing new is due (the cost every few seconds).

The best of --repeat steady rounds is the figure to quote; the median says how noisy it was.
It prints figures and never decides pass or fail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, col, select

from bench.harness.db import load_demo_database, scratch_database
from dispatch.core.db import make_engine
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    EventStatus,
    ExtensionRequest,
)
from dispatch.reference.models import Department, MatterList
from dispatch.supervision.alerts import raise_deadline_alerts
from dispatch.supervision.extensions import lapse_overdue_requests
from dispatch.supervision.rules import issue_rule_notices
from dispatch.transaction import transaction

TOWNSHIP = "320999004"


def seed(session: Session, parts: int, now: datetime) -> None:
    """Add live lead parts, a week overdue, and a pending extension request on every tenth."""
    department = session.exec(select(Department.id).order_by(col(Department.id))).first()
    list_id = session.exec(select(MatterList.id)).first()
    assert department is not None and list_id is not None
    past = now - timedelta(days=7)
    events = [
        Event(
            client_id=f"bench-side-{i}", status=EventStatus.IN_PROGRESS, source="grid",
            reported_at=past, received_at=past, raw_lon=120.1, raw_lat=31.2, crs="wgs84",
            lon=120.1, lat=31.2, description="新市街菜场门口有流动摊贩占道卖菜",
            county_code="320999", township_code=TOWNSHIP, matter_code="C-004",
            matter_list_id=list_id, sign_by=past + timedelta(hours=2),
            handle_by=past + timedelta(days=2), updated_at=past,
        )
        for i in range(parts)
    ]  # fmt: skip
    session.add_all(events)
    session.flush()
    rows = [
        Assignment(
            event_id=e.id or 0, department_id=department, role=AssignmentRole.LEAD,
            status=AssignmentStatus.PENDING if i % 2 else AssignmentStatus.SIGNED,
            sign_by=e.sign_by, handle_by=e.handle_by, created_at=past,
        )
        for i, e in enumerate(events)
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    session.add_all(
        ExtensionRequest(
            event_id=a.event_id, assignment_id=a.id or 0, working_days=3, reason="等待检测结果",
            requested_at=past + timedelta(days=1),
        )
        for a in rows[::10]
    )  # fmt: skip
    session.flush()


def main() -> int:
    """Seed, time the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with scratch_database("sipingtai_bench_side_paths") as url:
        load_demo_database(url)
        engine = make_engine(url)
        with transaction(engine, None) as session:
            seed(session, args.parts, now)

        def once(step: object) -> tuple[float, int]:
            start = time.perf_counter()
            with transaction(engine, None) as session:
                done = step(session)  # type: ignore[operator]
            return time.perf_counter() - start, len(done)

        def baseline(session: Session) -> list[int | None]:
            live = (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
            return list(session.exec(select(Assignment.id).where(col(Assignment.status).in_(live))))

        base = [once(baseline)[0] for _ in range(args.repeat)]
        alerts = once(lambda s: raise_deadline_alerts(s, now=now))
        notices = once(lambda s: issue_rule_notices(s, now=now))
        lapses = once(lambda s: lapse_overdue_requests(s, now=now))
        steady = [once(lambda s: issue_rule_notices(s, now=now)) for _ in range(args.repeat)]
        engine.dispose()

    ms = 1000.0
    print(f"side paths, one scheduler round, {args.parts} live overdue parts (PostgreSQL)")
    print(f"  {'step':<44} {'written':>8} {'ms':>9} {'ms/part':>8}")
    rows = [
        ("baseline: read the live parts' ids (best)", args.parts, min(base)),
        ("deadline warnings, first round", alerts[1], alerts[0]),
        ("rule notices (督办), first round", notices[1], notices[0]),
        ("extension lapses (延期), first round", lapses[1], lapses[0]),
        ("rule notices, steady round (best)", steady[0][1], min(t for t, _ in steady)),
    ]
    for label, written, seconds in rows:
        print(f"  {label:<44} {written:>8} {seconds * ms:>9.1f} {seconds * ms / args.parts:>8.3f}")
    median = statistics.median(t for t, _ in steady) * ms
    print(f"  steady round median {median:.1f} ms over {args.repeat} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
