"""Measure the 台账 ledger exports on PostgreSQL; prints a table of figures.

    python bench/ledger.py [--events 100000] [--url postgresql+psycopg://...]

Loads the demo county into a scratch database (or the empty database named by --url or
SIPINGTAI_BENCH_DATABASE_URL), bulk-inserts --events events with three parts each (lead, co,
territorial) and their steps (set-based INSERT … SELECT, as a year of a county leaves them:
most rated, some in handling, some waiting to be signed, a few reworked), then times, each in
a subprocess of its own so that its peak RSS is its own:

- the CSV export through the real streaming function (ledger.export.csv_chunks), consumed;
- the XLSX export the same way (ledger.export.xlsx_chunks);
- the baseline: every event, part and step loaded through the ORM into memory, then the
  same columns written with csv.writer;
- the CSV export and the baseline again over a tenth of the events, so that memory flat
  (the streamed export's peak RSS does not grow with the rows) can be seen beside memory
  that grows.

Seconds are wall time from the first query to the last byte, beside the exporting process's
own CPU seconds and the machine's load average (on a shared machine the wall time says more
about the neighbours than about the export); the peak RSS is the process's own high-water
mark (VmHWM), beside its peak before the export began (the imports'). It prints figures and
never decides pass or fail. Targets (issue 11): 100,000 events as CSV in ≤ 5 s,
XLSX in ≤ 20 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bench.harness.db import load_demo_database, scratch_database
from bench.harness.processes import say
from dispatch.core.clock import beijing_text
from dispatch.core.db import make_engine
from dispatch.events.models import Assignment, Event, Step
from dispatch.events.service import EventFilter
from dispatch.ledger.columns import HEADERS
from dispatch.ledger.export import csv_chunks, prepare_export, xlsx_chunks
from dispatch.users.models import UserRole
from dispatch.users.policy import Actor

START = datetime(2025, 12, 1, tzinfo=UTC)
SPACING_S = 300  # one event every five minutes: 100,000 events over about a year
VARIANTS = ("csv", "xlsx", "baseline")

SEED_SQL = (
    # The places and matters the events cycle through, numbered from 1.
    """
    CREATE TEMP TABLE bench_place AS
    SELECT row_number() OVER (ORDER BY g.code) AS n, g.code AS grid, v.code AS village,
           v.parent_code AS township
    FROM jurisdiction g JOIN jurisdiction v ON v.code = g.parent_code
    WHERE g.level = 'grid'
    """,
    """
    CREATE TEMP TABLE bench_matter AS
    SELECT row_number() OVER (ORDER BY m.code) AS n, m.code, m.list_id, m.platform_code
    FROM matter m
    WHERE m.list_id = (SELECT max(id) FROM matter_list)
    """,
    # The events: 60% rated (every tenth reworked once), 30% in handling, 10% to be signed.
    """
    INSERT INTO event (client_id, status, source, reported_at, received_at, raw_lon, raw_lat,
        crs, lon, lat, address, description, urgent, handled_on_site, county_code,
        township_code, village_code, grid_code, matter_code, matter_list_id, platform_code,
        routed_at, sign_by, handle_by, closed_at, rating, rework_count, updated_at)
    SELECT 'bench-ledger-' || i,
        CASE WHEN i % 10 < 6 THEN 'rated' WHEN i % 10 < 9 THEN 'in_progress' ELSE 'dispatched'
        END,
        'grid', t, t, 120.1, 31.2, 'wgs84', 120.1, 31.2, '新市镇东村三组 ' || (i % 97) || ' 号',
        '新市街菜场门口有流动摊贩占道卖菜，行人只能走机动车道，第 ' || i || ' 次上报',
        false, false, '320999', p.township, p.village, p.grid, m.code, m.list_id,
        m.platform_code, t + interval '1 minute', t + interval '2 hours', t + interval '5 days',
        CASE WHEN i % 10 < 6 THEN t + interval '3 days' END,
        CASE WHEN i % 10 < 6 THEN 3 + i % 3 END,
        CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, t
    FROM (SELECT i, CAST(:start AS timestamptz) + i * interval '1 second' * :spacing AS t
          FROM generate_series(1, :events) AS i) s
    JOIN bench_place p ON p.n = 1 + s.i % (SELECT count(*) FROM bench_place)
    JOIN bench_matter m ON m.n = 1 + s.i % (SELECT count(*) FROM bench_matter)
    """,
    # Three parts each; a part signs within the hour (every seventh late), feeds back in 2 days.
    """
    INSERT INTO assignment (event_id, department_id, role, round, status, duties, sign_by,
        handle_by, signed_at, fed_back_at, created_at, answered_at, returns, reworks,
        sign_alert, handle_alert)
    SELECT e.id, d.department_id, d.role, 1,
        CASE WHEN e.status = 'rated' THEN 'fed_back' WHEN e.status = 'in_progress'
             THEN 'signed' ELSE 'pending' END,
        '[]', e.sign_by, e.handle_by,
        CASE WHEN e.status <> 'dispatched' THEN e.routed_at + s.sign_after END,
        CASE WHEN e.status = 'rated' THEN e.routed_at + interval '2 days' END,
        e.routed_at,
        CASE WHEN e.status <> 'dispatched' THEN e.routed_at + s.sign_after END,
        0, e.rework_count, 0, 0
    FROM event e
    CROSS JOIN (SELECT id AS department_id, role FROM (VALUES
        ((SELECT min(id) FROM department WHERE kind = 'county_department'), 'lead'),
        ((SELECT max(id) FROM department WHERE kind = 'county_department'), 'co'),
        ((SELECT min(id) FROM department WHERE kind = 'township_platform'), 'territorial'))
        AS v(id, role)) d
    CROSS JOIN LATERAL (SELECT CASE WHEN e.id % 7 = 0 THEN interval '3 hours'
                                    ELSE interval '40 minutes' END AS sign_after) s
    WHERE e.client_id LIKE 'bench-ledger-%'
    """,
    # The steps: report and route per event; dispatch, sign and feed back per part; a failed
    # check and a rework where reworked; the check, close and rating of the rated ones.
    """
    INSERT INTO step (event_id, assignment_id, at, action, actor, to_status)
    SELECT id, CAST(NULL AS bigint), received_at, 'report', '网格员', 'reported' FROM event
        WHERE client_id LIKE 'bench-ledger-%'
    UNION ALL SELECT id, NULL, routed_at, 'route', '系统', 'dispatched' FROM event
        WHERE client_id LIKE 'bench-ledger-%'
    UNION ALL SELECT event_id, id, created_at, 'dispatch', '系统', 'pending' FROM assignment
    UNION ALL SELECT event_id, id, signed_at, 'sign', '部门', 'signed' FROM assignment
        WHERE signed_at IS NOT NULL
    UNION ALL SELECT event_id, id, fed_back_at - interval '1 day', 'feed_back', '部门',
        'fed_back' FROM assignment WHERE reworks > 0 AND fed_back_at IS NOT NULL
    UNION ALL SELECT id, NULL, routed_at + interval '1 day 2 hours', 'verify_fail', '乡镇',
        'in_progress' FROM event WHERE rework_count > 0 AND status = 'rated'
    UNION ALL SELECT event_id, id, fed_back_at - interval '22 hours', 'rework', '乡镇',
        'signed' FROM assignment WHERE reworks > 0 AND fed_back_at IS NOT NULL
    UNION ALL SELECT event_id, id, fed_back_at, 'feed_back', '部门', 'fed_back'
        FROM assignment WHERE fed_back_at IS NOT NULL
    UNION ALL SELECT id, NULL, closed_at - interval '2 hours', 'verify_pass', '乡镇', 'verified'
        FROM event WHERE status = 'rated' AND client_id LIKE 'bench-ledger-%'
    UNION ALL SELECT id, NULL, closed_at, 'close', '乡镇', 'closed' FROM event
        WHERE status = 'rated' AND client_id LIKE 'bench-ledger-%'
    UNION ALL SELECT id, NULL, closed_at + interval '1 day', 'rate_satisfied', '中心', 'rated'
        FROM event WHERE status = 'rated' AND client_id LIKE 'bench-ledger-%'
    """,
    "ANALYZE",
)


def seed(engine: Engine, events: int) -> dict[str, int]:
    """Bulk-insert the events, their parts and their steps; return the row counts."""
    params = {"start": START, "spacing": SPACING_S, "events": events}
    with engine.begin() as conn:
        for statement in SEED_SQL[:-1]:
            conn.execute(text(statement), params if ":events" in statement else {})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(SEED_SQL[-1]))
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("event", "assignment", "step")
        }


def until_for(events: int) -> datetime:
    """Return the receipt time that ends the first `events` events."""
    return START + timedelta(seconds=SPACING_S * events + 1)


# ---- One variant, in its own process -------------------------------------------------------


def run_variant(url: str, variant: str, until: datetime) -> dict[str, Any]:
    """Export the events received before until one way; return seconds, rows, bytes, RSS."""
    engine = make_engine(url)
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = peak_rss_mb()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    if variant == "baseline":
        size, rows = baseline(engine, until)
    else:
        centre = Actor(id=0, role=UserRole.COMMAND_CENTRE)
        with Session(engine) as session:
            export = prepare_export(session, centre, EventFilter(until=until))
        chunks = (csv_chunks if variant == "csv" else xlsx_chunks)(engine, export)
        size, count = 0, 0
        for chunk in chunks:
            size += len(chunk)
            count += chunk.count(b"\n") if variant == "csv" else 0
        rows = count - 1 if variant == "csv" else -1
    seconds = time.perf_counter() - start
    engine.dispose()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load": load,
        "bytes": size,
        "rows": rows,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB since it was exec'd.

    Not getrusage's ru_maxrss: on Linux a child starts with its parent's peak (kept across
    fork and exec), so every variant would show at least the seeding parent's. VmHWM belongs
    to the process's own address space, new at exec.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(engine: Engine, until: datetime) -> tuple[int, int]:
    """Load every event, part and step through the ORM, then write the columns at once."""
    with Session(engine) as session:
        events = session.exec(
            select(Event).where(col(Event.received_at) < until).order_by(col(Event.id))
        ).all()
        wanted = select(Event.id).where(col(Event.received_at) < until)
        parts = session.exec(select(Assignment).where(col(Assignment.event_id).in_(wanted))).all()
        steps = session.exec(
            select(Step).where(
                col(Step.event_id).in_(wanted), col(Step.action).in_(("sign", "verify_pass"))
            )
        ).all()
    by_event: defaultdict[int, list[Assignment]] = defaultdict(list)
    for part in parts:
        by_event[part.event_id].append(part)
    verified = {s.event_id: s.at for s in steps if s.action == "verify_pass"}
    signed: dict[int, datetime] = {}
    for s in steps:
        if s.action == "sign" and s.assignment_id is not None:
            signed[s.assignment_id] = min(s.at, signed.get(s.assignment_id, s.at))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for e in events:
        mine = by_event.get(e.id or 0, [])
        lead = next((p for p in mine if p.role == "lead"), None)
        row: list[object] = [
            e.id, e.reported_at, e.received_at, e.matter_code, e.matter_code, e.platform_code,
            e.township_code, e.village_code, e.grid_code, e.address, e.description, e.status,
            lead.department_id if lead else None,
            "、".join(str(p.department_id) for p in mine if p.role == "co"),
            "、".join(str(p.department_id) for p in mine if p.role == "territorial"),
            min((p.created_at for p in mine), default=None),
            signed.get(lead.id or 0) if lead else None,
            max((p.fed_back_at for p in mine if p.fed_back_at), default=None),
            verified.get(e.id or 0), e.closed_at, e.sign_by, e.handle_by,
            False, False, e.rework_count, e.rating, e.matter_list_id, e.closed_at is not None,
        ]  # fmt: skip
        writer.writerow(beijing_text(v) if isinstance(v, datetime) else v for v in row)
    data = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    return len(data), len(events)


# ---- The run ------------------------------------------------------------------------------


def in_subprocess(url: str, variant: str, events: int) -> dict[str, Any]:
    """Run one variant in a fresh interpreter and return its figures."""
    argv = [sys.executable, __file__, "--variant", variant, "--url", url, "--events", str(events)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def measure(url: str, events: int) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield each variant's figures: the whole ledger, then a tenth of it."""
    for variant in VARIANTS:
        say(f"{variant}, {events} events")
        yield variant, events, in_subprocess(url, variant, events)
    tenth = max(events // 10, 1)
    for variant in ("csv", "baseline"):
        say(f"{variant}, {tenth} events")
        yield variant, tenth, in_subprocess(url, variant, tenth)


def report(
    events: int, counts: dict[str, int], results: list[tuple[str, int, dict[str, Any]]]
) -> None:
    """Print the figures side by side."""
    labels = {
        "csv": "CSV, streamed (csv_chunks)",
        "xlsx": "XLSX, streamed (xlsx_chunks)",
        "baseline": "baseline: ORM, all in memory, csv.writer",
    }
    print(
        f"台账 ledger export on PostgreSQL: {counts['event']} events, "
        f"{counts['assignment']} parts, {counts['step']} steps"
    )
    print(
        f"  {'variant':<42} {'events':>8} {'s':>7} {'CPU s':>6} {'rows/s':>9} {'MB out':>7} "
        f"{'RSS start':>10} {'peak RSS':>9} {'load':>5}"
    )
    for variant, n, f in results:
        print(
            f"  {labels[variant]:<42} {n:>8} {f['seconds']:>7.2f} {f['cpu_seconds']:>6.1f} "
            f"{n / f['seconds']:>9.0f} {f['bytes'] / 2**20:>7.1f} {f['rss_before_mb']:>8.0f}MB "
            f"{f['peak_rss_mb']:>7.0f}MB {f['load']:>5.1f}"
        )
    print(f"  targets for {events} events: CSV ≤ 5 s, XLSX ≤ 20 s, memory flat")
    print(
        f"  s is wall time from the first query to the last byte; CPU s is the exporting "
        f"process's own (PostgreSQL's is not in it); load is the 1-minute load average of "
        f"this {os.cpu_count()}-core machine when the variant began"
    )


def main() -> int:
    """Seed a database, run each variant in its own process and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--url", default=os.environ.get("SIPINGTAI_BENCH_DATABASE_URL"))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.events <= 1_000_000:
        parser.error("--events: 1 to 1,000,000")
    if args.variant:  # a child: one variant over a database already seeded
        print(json.dumps(run_variant(args.url, args.variant, until_for(args.events))))
        return 0

    def run(url: str) -> None:
        say(f"loading the demo county and seeding {args.events} events")
        load_demo_database(url)
        engine = make_engine(url)
        started = time.perf_counter()
        counts = seed(engine, args.events)
        engine.dispose()
        say(f"seeded in {time.perf_counter() - started:.1f} s: {counts}")
        report(args.events, counts, list(measure(url, args.events)))

    if args.url:
        run(args.url)
    else:
        with scratch_database("sipingtai_bench_ledger") as url:
            run(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
