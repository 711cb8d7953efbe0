"""Replay a generated province-day through the running service at N× speed; plot the backlog.

    python bench/replay.py [--events 33000] [--speed 50] [--api-procs 1] [--workers 1]
                           [--connections 256] [--bucket-minutes 30] [--quick]

A province-day: Zhejiang's grids reported 12.1 million items in 2022, about 33,000 a day.
Their moments come from the demo history's shape (dispatch.demo.history.report_moments: nine
in ten in 08:00–18:00 of a workday, the rest 06:00–22:00), drawn for one workday and sent at
--speed times real time (at 50× the working day's peak is about 41 reports/s, the 06:00–22:00
span about 19 minutes). Every report goes to the demo county: the service under test holds one
county's reference data, and routing cost does not grow with the number of counties (the
jurisdictions are found through an R-tree), so the load is what matters, not where it lands.

Baseline, same run, same service: a trickle (--baseline-rate, default 2/s for 15 s) before the
replay, so the latency the replay adds can be told from the latency the service always has.

Set-up and teardown as bench/intake.py: a scratch PostgreSQL database, a flushed Redis database
(13 unless --redis-db), uvicorn, RQ workers and the sweeper, all on loopback, all gone at the
end. Printed: one row per --bucket-minutes of simulated time with the offered rate, the POST and
POST→lead (observed: first seen committed by a poller, minus the scheduled send) p50 / p99 and
the largest backlog sampled (events still `reported`), as numbers and as bars; then totals and
the CPU each process group used. The rows are also written as CSV beside the logs. Figures
only: nothing passes or fails on time.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.cpu import CpuMeter
from bench.harness.db import redis_url
from bench.harness.http import sign_in
from bench.harness.load import (
    START_DELAY_S,
    LoadResult,
    closed_loop,
    errors,
    open_loop,
    scheduled_loop,
)
from bench.harness.processes import Processes, say, tree_state
from bench.harness.reports import prepared_demo
from bench.harness.service import (
    LeadPoller,
    Watcher,
    lead_latencies,
    pending_in_redis,
    query,
    run_bench,
    service_cpu_groups,
    start_service,
    wait_routed,
    waiting_count,
)
from bench.harness.stats import ms, pair, per_s, percentile, rate, row

DB_NAME = "sipingtai_bench_replay"
REPORTER = "grid"
# A Wednesday that is a workday on every calendar the demo loads.
REPLAY_DAY = date(2026, 11, 18)
POLL_INTERVAL_S = 0.05
SAMPLE_INTERVAL_S = 1.0
BAR_WIDTH = 30


class Config(argparse.Namespace):
    """The run's knobs, after --quick."""

    events: int
    speed: float
    api_procs: int
    workers: int
    connections: int
    gen_procs: int
    bucket_minutes: float
    baseline_rate: float
    baseline_seconds: float
    redis_db: int
    seed: int
    quick: bool
    redis_url: str


def parse_args(argv: list[str] | None = None) -> Config:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--events", type=int, default=33_000, help="reports in the day (a province's average)")
    add("--speed", type=float, default=50.0, help="simulated seconds per wall second")
    add("--api-procs", type=int, default=1, help="uvicorn --workers")
    add("--workers", type=int, default=1, help="RQ worker processes")
    add("--connections", type=int, default=256, help="open-loop connections")
    add("--gen-procs", type=int, default=1, help="load generator processes")
    add("--bucket-minutes", type=float, default=30.0, help="simulated minutes per printed row")
    add("--baseline-rate", type=float, default=2.0, help="the trickle before the replay, /s")
    add("--baseline-seconds", type=float, default=15.0, help="the trickle's seconds")
    add("--redis-db", type=int, default=13, help="Redis database to use (not 0 or 15)")
    add("--seed", type=int, default=20261118, help="the day's random seed")
    add("--quick", action="store_true", help="a tenth of the reports at 500×: a smoke check")
    c = parser.parse_args(argv, namespace=Config())
    try:
        c.redis_url = redis_url(c.redis_db)
    except ValueError as exc:
        parser.error(str(exc))
    if c.quick:
        c.events, c.speed, c.baseline_seconds = max(1, c.events // 10), 500.0, 4.0
    return c


def province_day(config: Config) -> tuple[list[datetime], list[float]]:
    """Return the day's report moments and their send offsets (wall s after the first)."""
    from dispatch.core.clock import CHINA_TZ
    from dispatch.demo.history import report_moments
    from dispatch.reference.calendar import WorkCalendar

    start = datetime.combine(REPLAY_DAY, datetime.min.time(), CHINA_TZ).astimezone(UTC)
    moments = report_moments(
        start, start + timedelta(days=1), config.events, WorkCalendar(), random.Random(config.seed)
    )
    first = moments[0]
    return moments, [(m - first).total_seconds() / config.speed for m in moments]


class BacklogSampler(Watcher):
    """Sample the events still waiting for routing, and Redis's pending set, every second."""

    name = "backlog-sampler"

    def __init__(self, redis: str) -> None:
        self.redis = redis
        self.samples: list[tuple[float, int, int]] = []  # (wall time, waiting, pending ids)
        super().__init__()

    def watch(self) -> None:
        """Sample until stopped."""
        while not self.stopping.is_set():
            pending, _ = pending_in_redis(self.redis)
            self.samples.append((time.time(), waiting_count(DB_NAME), pending))
            self.stopping.wait(SAMPLE_INTERVAL_S)


@dataclass
class Bucket:
    """One row: a slice of simulated time."""

    label: str
    offered: int = 0
    post: list[float] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)
    backlog: int = 0


def buckets(
    config: Config,
    moments: list[datetime],
    offsets: list[float],
    start_at: float,
    load: LoadResult,
    seen: dict[int, float],
    triaged: set[int],
    samples: list[tuple[float, int, int]],
) -> list[Bucket]:
    """Cut the run into slices of simulated time; put each figure in its slice.

    Events sent to triage get no lead by design: left out of POST→lead, as lead_latencies does.
    """
    from dispatch.core.clock import CHINA_TZ

    width_s = config.bucket_minutes * 60 / config.speed  # a slice in wall seconds
    first = moments[0].astimezone(CHINA_TZ)
    count = int(offsets[-1] // width_s) + 1
    rows = [
        Bucket((first + timedelta(minutes=i * config.bucket_minutes)).strftime("%H:%M"))
        for i in range(count)
    ]

    def at(wall: float) -> Bucket | None:
        index = int((wall - start_at) // width_s)
        return rows[index] if 0 <= index < count else None

    for offset in offsets:
        rows[min(count - 1, int(offset // width_s))].offered += 1
    for t0, latency in load.timeline:
        if (b := at(t0)) is not None:
            b.post.append(latency)
    for event_id, t0 in load.ids:
        if event_id not in triaged and (b := at(t0)) is not None:
            b.lead.append(seen[event_id] - t0 if event_id in seen else math.inf)
    for t0, latency in load.timeline:  # refused or never answered: no lead, ever
        if math.isinf(latency) and (b := at(t0)) is not None:
            b.lead.append(math.inf)
    for wall, waiting, _ in samples:
        if (b := at(wall)) is not None:
            b.backlog = max(b.backlog, waiting)
    return rows


def bar(value: float, top: float) -> str:
    """Draw value against top as a bar of block characters."""
    if top <= 0 or not math.isfinite(value):
        return ""
    eighths = round(BAR_WIDTH * 8 * min(value, top) / top)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def write_csv(path: Path, rows: list[Bucket], speed: float, bucket_minutes: float) -> None:
    """Write the rows for a spreadsheet or a plotting tool."""
    width_s = bucket_minutes * 60 / speed
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["simulated", "offered_per_s", "post_p50_ms", "post_p99_ms", "lead_p50_ms",
             "lead_p99_ms", "backlog_max"]
        )  # fmt: skip
        for b in rows:
            figures = [percentile(v, q) * 1000 for v in (b.post, b.lead) for q in (50, 99)]
            out.writerow(
                [b.label, f"{b.offered / width_s:.1f}", *(f"{f:.0f}" for f in figures), b.backlog]
            )


def main(argv: list[str] | None = None) -> int:
    """Run the replay and print its plot; clean up whatever happens."""
    config = parse_args(argv)
    return run_bench(
        "replay", DB_NAME, config.redis_url, lambda env, procs, work: run(config, env, procs, work)
    )


def run(config: Config, env: dict[str, str], processes: Processes, work: Path) -> int:
    """Start the service, send the trickle and the day, print the plot."""
    tree = tree_state()
    pool = prepared_demo(env["DATABASE_URL"], DB_NAME, seed=11)
    moments, offsets = province_day(config)
    service = start_service(processes, env, api_procs=config.api_procs, workers=config.workers)
    token = sign_in(service.base, REPORTER)
    say("warm-up: every API process builds its router")
    closed_loop(service.base, token, pool, seconds=3.0, clients=8, procs=1, seed=2)
    wait_routed(DB_NAME, 30.0)
    say(f"baseline: {config.baseline_rate:g}/s for {config.baseline_seconds:.0f} s")
    with LeadPoller(DB_NAME, POLL_INTERVAL_S) as poller:
        trickle = open_loop(
            service.base, token, pool, seconds=config.baseline_seconds, rate=config.baseline_rate,
            connections=8, procs=1, seed=3, record_ids=True,
        )  # fmt: skip
        wait_routed(DB_NAME, 30.0)
        time.sleep(3 * POLL_INTERVAL_S)
    trickle_lead = lead_latencies(DB_NAME, trickle, poller.seen)[1]

    span = offsets[-1]
    say(
        f"replay: {len(offsets):,} reports of {REPLAY_DAY} at {config.speed:g}× "
        f"({span / 60:.1f} min of wall time)"
    )
    meter = CpuMeter(service_cpu_groups(service, DB_NAME))
    start_at = time.time() + START_DELAY_S
    with (
        LeadPoller(DB_NAME, POLL_INTERVAL_S) as poller,
        BacklogSampler(config.redis_url) as sampler,
    ):
        with meter.window(start_at, span):
            load = scheduled_loop(
                service.base, token, pool, schedule=offsets, connections=config.connections,
                procs=config.gen_procs, seed=config.seed, start_at=start_at,
            )  # fmt: skip
        drained_at = time.time()
        left = wait_routed(DB_NAME, 120.0)
        drain_s = time.time() - drained_at
        time.sleep(3 * POLL_INTERVAL_S)
    for watcher in (poller, sampler):
        if watcher.error is not None:
            raise RuntimeError(f"{type(watcher).__name__} failed: {watcher.error!r}")
    cpu = meter.shares_beside(load.cpu_s, load.wall_s)
    db_lead, seen_lead, triaged, not_routed = lead_latencies(DB_NAME, load, poller.seen)
    ids = [i for i, _ in load.ids]
    stored = int(query(DB_NAME, "SELECT count(*) FROM event WHERE id = ANY(%s)", (ids,))[0][0])
    to_triage = query(
        DB_NAME, "SELECT id FROM event WHERE id = ANY(%s) AND status = 'needs_triage'", (ids,)
    )
    rows = buckets(
        config, moments, offsets, start_at, load, poller.seen, {i for (i,) in to_triage},
        sampler.samples,
    )  # fmt: skip
    write_csv(work / "replay.csv", rows, config.speed, config.bucket_minutes)

    width_s = config.bucket_minutes * 60 / config.speed
    top_rate = max(b.offered / width_s for b in rows)
    top_backlog = max((b.backlog for b in rows), default=0)
    widths = (7, 10, 18, 18, 9)
    lines = [
        "",
        f"Province-day replay — {tree}",
        f"{len(offsets):,} reports of one workday ({REPLAY_DAY}) at {config.speed:g}× real time, "
        f"{span / 60:.1f} min; uvicorn --workers {config.api_procs}, {config.workers} RQ "
        f"worker(s) + the sweeper; PostgreSQL {DB_NAME}"
        + ("\n[--quick: a smoke check; these figures mean little]" if config.quick else ""),
        "",
        "  "
        + row(("time", "offered", "POST p50/p99", "→lead p50/p99", "backlog"), widths)
        + f"  offered (█ = {top_rate / BAR_WIDTH:.2f}/s)",
    ]
    for b in rows:
        lines.append(
            "  "
            + row(
                (b.label, rate(b.offered / width_s), pair(b.post), pair(b.lead), f"{b.backlog:,}"),
                widths,
            )
            + "  "
            + bar(b.offered / width_s, top_rate)
        )
    lines += [
        "",
        f"  backlog (events still reported, largest per row; █ = {top_backlog / BAR_WIDTH:.1f}):"
        if top_backlog
        else "  backlog: never above 0 in any sample",
    ]
    if top_backlog:
        lines += [f"  {b.label}  {bar(b.backlog, top_backlog)} {b.backlog:,}" for b in rows]
    widths2 = (40, 24, 24)
    compared = [
        ("", "replay", f"baseline {config.baseline_rate:g}/s"),
        ("POST p50 / p99", pair(load.post_latencies()), pair(trickle.post_latencies())),
        ("POST→lead p50 / p99 (observed)", pair(seen_lead), pair(trickle_lead)),
        ("POST→lead p50 / p99 (DB stamps)", pair(db_lead), ""),
    ]
    lines += [
        "",
        *("  " + row(cells, widths2) for cells in compared),
        "",
        f"  sent {load.sent:,}; answered 201 {len(load.ids):,}; errors {errors(load)}; stored "
        f"{stored:,}; went to triage {triaged:,}; unrouted after the drain {not_routed:,} "
        f"({left:,} still reported after {drain_s:.0f} s); worst send lag {ms(load.lag_max_s)}",
        f"  peak offered {rate(top_rate)} (per {config.bucket_minutes:g} simulated minutes); "
        f"mean {rate(per_s(load.sent, span))}",
        "",
        "  CPU over the replay, in shares of one core:",
        *(f"    {name:<58}{share:>6.0%}" for name, share in cpu.items()),
        "",
        f"  Rows as CSV: {work / 'replay.csv'}",
    ]
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
