"""Measure the scheduler's deadline round on PostgreSQL: steady and first rounds; prints a table.

    python bench/side_paths.py [--parts 100000] [--due 5000] [--repeat 3] [--redis-db N]

Each round the scheduler raises the deadline warnings, lapses undecided extension requests
(延期) and issues the county rules' supervision notices (督办). This loads the demo county into
a scratch database and adds, set-based, --parts live lead parts (half pending, half signed)
with their deadlines weeks away and a pending extension request on every tenth. It times:

- the steady round: nothing is due (what every tick costs with that many live parts);
- the first round after --due of those parts were moved a week past their deadlines: each
  gets its warnings and the county rules' notices (three if pending, two if signed), every
  tenth a lapse; "written" counts those, each of which also writes its step;
- the round after it, which finds nothing new (a round twice writes nothing the second time).

With --redis-db the rounds also build the boards' cards and publish them (as the scheduler
does); without, the outbox is dropped after the commit. The best of --repeat steady rounds
is the figure to quote. It prints figures and never decides pass or fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import redis
from sqlalchemy import Engine

from bench.harness.db import flushed_redis, load_demo_database, redis_url, scratch_database
from bench.harness.processes import say
from dispatch.core.db import make_engine
from dispatch.jobs.scheduler import alert_deadlines, lapse_extensions, supervise_by_rules

SEED_SQL = """
INSERT INTO event (client_id, status, source, reported_at, received_at, raw_lon, raw_lat, crs,
  lon, lat, description, urgent, handled_on_site, county_code, township_code, matter_code,
  matter_list_id, routed_at, sign_by, handle_by, rework_count, updated_at)
SELECT 'bench-side-' || g, 'dispatched', 'grid', %(at)s, %(at)s, 120.1, 31.2, 'wgs84', 120.1,
  31.2, '新市街菜场门口有流动摊贩占道卖菜', false, false, '320999', '320999004', 'C-004',
  %(list_id)s, %(at)s, %(sign_by)s, %(handle_by)s, 0, %(at)s
FROM generate_series(1, %(n)s) AS g;
INSERT INTO assignment (event_id, department_id, role, round, status, duties, sign_by,
  handle_by, created_at, sign_alert, handle_alert, returns, reworks)
SELECT id, %(department)s, 'lead', 1, CASE WHEN id %% 2 = 0 THEN 'pending' ELSE 'signed' END,
  '[]', sign_by, handle_by, received_at, 0, 0, 0, 0
FROM event WHERE client_id LIKE 'bench-side-%%';
INSERT INTO extension_request (event_id, assignment_id, working_days, reason, status,
  requested_at)
SELECT event_id, id, 3, '等待检测结果', 'pending', created_at + interval '10 minutes'
FROM assignment WHERE id %% 10 = 0;
ANALYZE;
"""

# Move the first parts a week back: created 9 days ago, sign and handling deadlines passed.
DUE_SQL = """
WITH moved AS (
  UPDATE assignment SET created_at = %(past)s, sign_by = %(past)s + interval '2 hours',
    handle_by = %(past)s + interval '2 days'
  WHERE id IN (SELECT id FROM assignment ORDER BY id LIMIT %(n)s) RETURNING event_id)
UPDATE event SET sign_by = %(past)s + interval '2 hours', handle_by = %(past)s + interval '2 days'
WHERE id IN (SELECT event_id FROM moved);
ANALYZE assignment;
"""


def seed(url: str, parts: int, now: datetime) -> None:
    """Add the live parts, set-based, deadlines weeks away (none due)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        department = conn.execute(
            "SELECT id FROM department WHERE kind <> 'township_platform' ORDER BY id LIMIT 1"
        ).fetchone()
        list_id = conn.execute("SELECT id FROM matter_list ORDER BY id LIMIT 1").fetchone()
        assert department is not None and list_id is not None
        params = {
            "n": parts,
            "at": now - timedelta(hours=1),
            "sign_by": now + timedelta(days=10),
            "handle_by": now + timedelta(days=30),
            "department": department[0],
            "list_id": list_id[0],
        }
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)


def make_due(url: str, parts: int, now: datetime) -> None:
    """Move the first parts' deadlines a week into the past."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement in DUE_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"n": parts, "past": now - timedelta(days=9)})


Step = Callable[[Engine, "redis.Redis | None"], int]
STEPS: tuple[tuple[str, Step], ...] = (
    ("deadline warnings", alert_deadlines),
    ("extension lapses (延期)", lapse_extensions),
    ("rule notices (督办)", supervise_by_rules),
)


def round_once(engine: Engine, connection: redis.Redis | None) -> list[tuple[float, int]]:
    """Run one round's three steps; return each one's seconds and rows written."""
    timed = []
    for _, step in STEPS:
        start = time.perf_counter()
        written = step(engine, connection)
        timed.append((time.perf_counter() - start, written))
    return timed


def main() -> int:
    """Seed, time the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=None)
    args = parser.parse_args()
    now = datetime.now(UTC)
    rurl = redis_url(args.redis_db) if args.redis_db is not None else None
    with (
        scratch_database("sipingtai_bench_side_paths") as url,
        flushed_redis(rurl) if rurl else nullcontext(),
    ):
        load_demo_database(url)
        start = time.perf_counter()
        seed(url, args.parts, now)
        say(f"seeded {args.parts:,} live parts in {time.perf_counter() - start:.1f} s")
        engine = make_engine(url)
        connection = redis.Redis.from_url(rurl) if rurl else None
        steady = [round_once(engine, connection) for _ in range(args.repeat)]
        make_due(url, args.due, now)
        first = round_once(engine, connection)
        again = round_once(engine, connection)
        engine.dispose()

    ms = 1000.0
    load = os.getloadavg()
    print(
        f"scheduler round, {args.parts:,} live parts, {args.due:,} made due (PostgreSQL, "
        f"{'cards published' if rurl else 'no Redis'}; load {load[0]:.2f} {load[1]:.2f})"
    )
    print(f"  {'step':<26} {'steady ms':>10} {'first ms':>10} {'written':>8} {'ms/row':>7}"
          f" {'again ms':>9} {'again':>6}")  # fmt: skip
    for i, (label, _) in enumerate(STEPS):
        best = min(r[i][0] for r in steady) * ms
        seconds, written = first[i]
        per_row = seconds * ms / written if written else 0.0
        print(
            f"  {label:<26} {best:>10.1f} {seconds * ms:>10.1f} {written:>8} {per_row:>7.3f}"
            f" {again[i][0] * ms:>9.1f} {again[i][1]:>6}"
        )
    totals = [sum(t for t, _ in r) * ms for r in steady]
    written = sum(w for _, w in first)
    first_ms = sum(t for t, _ in first) * ms
    print(
        f"  {'whole round':<26} {min(totals):>10.1f} {first_ms:>10.1f} {written:>8}"
        f" {first_ms / max(written, 1):>7.3f} {sum(t for t, _ in again) * ms:>9.1f}"
        f" {sum(w for _, w in again):>6}"
    )
    print(f"  steady round median {statistics.median(totals):.1f} ms over {args.repeat} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
