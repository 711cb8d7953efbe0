"""Benchmark event intake end to end over HTTP on PostgreSQL; prints a table.

    python bench/intake.py [--duration 60] [--rate 500] [--workers 2] [--quick]
                           [--api-procs 1] [--clients 32] [--gen-procs 1] [--profile]

Everything runs on this machine, on loopback only, and is torn down at the end (also on
Ctrl-C or failure): a fresh PostgreSQL database `sipingtai_bench_intake` (migrated, the
demo county and demo users loaded, dropped at the end), one Redis database (flushed
before and after; 14 unless --redis-db), the API under uvicorn, N RQ workers
(`python -m service.cli worker`) and the sweeper (`python -m service.cli scheduler`).

The load generator (bench/harness/load.py) is asyncio + a lean HTTP/1.1 client
(bench/harness/wire.py) in --gen-procs child processes, each task with its own
one-connection client. Reports are realistic: a
random point inside a random demo grid, a hand-written description, the matter code for
most, some urgent, some with an address, all under one grid worker's bearer token.

Phases, in this order:

0. Generator ceiling: the same generator against a canned-response server (no
   framework at all), so the figures below can be read against what the client can do.
1. Bare baseline: a FastAPI app that only validates the EventCreate body and answers
   201 (bench/_bare_app.py), served with the same uvicorn settings, hit by the same
   closed and open loops.
2. Light load (--light-rate, default 50/s, open loop): the latencies below without
   queueing, so fixed costs can be told from overload.
3. Phase A (sustained, closed loop): --clients concurrent clients post as fast as
   answers come back for --duration seconds. Accepted POSTs/s, and events routed end to
   end per second: events with status dispatched/needs_triage whose routed_at falls in
   the window, counted in the database; the backlog (still `reported`) at the end. CPU
   seconds per process group are sampled over the window.
4. With --profile: a short closed-loop run with py-spy recording the API (only while a
   thread holds the GIL) and one worker (with its job horses); raw stacks are kept and
   summarised (self time by package, top functions by self and cumulative share).
5. Phase B (latency, open loop): --rate reports/s for --latency-seconds, sent on a
   fixed schedule over --connections connections whatever the answers do (after waiting,
   bounded, for the backlog to drain). POST latency is measured from the scheduled send
   time, so a generator or server falling behind shows up in it; an answer later than
   10 s, or none, counts as never. POST -> lead assignment comes two ways: from the
   database (Assignment.created_at - Event.received_at, both stamped by the service:
   when routing of the batch started) and as observed (a poller reads new assignments
   every 50 ms; first time seen, i.e. committed, minus the scheduled send time). Events
   sent to triage get no lead by design and are left out. Last, because overload may
   leave the API stalled; how long it took to answer again is printed.
6. Overload (--overload, default 3× the sustained rate of phase A, open loop): phones that
   send a report refused with 503 again after its Retry-After plus jitter, with the same
   body (so the same client_id), for up to a minute after the phase. Printed: the share of
   attempts answered (any status) within 1 s, reports never stored (lost), client_ids
   stored twice or answered with two ids (doubled), first send to acceptance.

The column "at filing" repeats the figures issue 12 was filed with (commit 1a04d9f, the
same bench, --duration 30 --rate 300, a quiet machine), so each new figure has the old
one beside it; they are constants, not measured in this run.

The machine has few cores and everything (generator, API, workers, PostgreSQL, Redis)
shares them, so read every figure with the CPU table printed beside it. Figures only:
nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.cpu import CpuMeter
from bench.harness.db import redis_url
from bench.harness.http import answer_time, sign_in
from bench.harness.load import START_DELAY_S, LoadResult, ceiling, closed_loop, errors, open_loop
from bench.harness.processes import Processes, say, tree_state
from bench.harness.profile import profiled
from bench.harness.reports import ReportPool, prepared_demo
from bench.harness.service import (
    LeadPoller,
    Service,
    lead_latencies,
    pending_in_redis,
    query,
    run_bench,
    service_cpu_groups,
    start_api,
    start_service,
    wait_routed,
    waiting_count,
)
from bench.harness.stats import ms, pair, per_s, percentile, rate, row

DB_NAME = "sipingtai_bench_intake"
REPORTER = "grid"
TARGET_SUSTAINED = 1000.0  # events/s end to end
TARGET_RATE = 500.0  # events/s offered ...
TARGET_P99_S = 1.0  # ... with p99 POST -> lead assignment within this
RECOVERY_WAIT_S = 30.0
# Issue 12's figures when it was filed (commit 1a04d9f), printed beside this run's.
AT_FILING = {
    "accepted": "128/s",
    "post": "243 / 444 ms",
    "routed": "127/s",
    "b_answered": "168/s of 300/s",
    "b_post": "19,800 ms / never",
    "light_lead": "92 / 175 ms",
}
POLL_INTERVAL_S = 0.05


OPTIONS: dict[str, tuple[type, float, str]] = {  # flag: (type, default, help)
    "--duration": (float, 60.0, "Phase A seconds"),
    "--rate": (float, 500.0, "Phase B offered reports/s"),
    "--light-rate": (float, 50.0, "offered reports/s of the light-load latency run (0: skip)"),
    "--workers": (int, 2, "RQ worker processes"),
    "--api-procs": (int, 2, "uvicorn --workers"),
    "--clients": (int, 32, "closed-loop concurrency"),
    "--connections": (int, 128, "open-loop connections (the concurrency the server may see)"),
    "--gen-procs": (int, 1, "load generator processes"),
    "--latency-seconds": (float, 20.0, "Phase B seconds"),
    "--redis-db": (int, 14, "Redis database to use (not 0 or 15)"),
    "--overload": (float, 3.0, "overload phase: offered = this × the sustained rate (0: skip)"),
    "--overload-seconds": (float, 20.0, "overload phase seconds"),
    "--overload-connections": (
        int,
        512,
        "overload phase: connections open at the start (phones open more)",
    ),
}


class Config(argparse.Namespace):
    """The run's knobs, after --quick."""

    duration: float
    rate: float
    light_rate: float
    workers: int
    api_procs: int
    clients: int
    connections: int
    gen_procs: int
    latency_seconds: float
    redis_db: int
    overload: float
    overload_seconds: float
    overload_connections: int
    profile: bool
    quick: bool
    # Derived from --quick and --redis-db.
    light_seconds: float
    baseline_seconds: float
    ceiling_seconds: float
    drain_wait: float
    profile_seconds: float
    redis_url: str


def parse_args(argv: list[str] | None = None) -> Config:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    for flag, (kind, default, text) in OPTIONS.items():
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument("--profile", action="store_true", help="record py-spy profiles")
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase")
    c = parser.parse_args(argv, namespace=Config())
    try:
        c.redis_url = redis_url(c.redis_db)
    except ValueError as exc:
        parser.error(str(exc))
    if c.quick:
        c.duration, c.latency_seconds, c.overload_seconds = 4.0, 3.0, 3.0
    c.light_seconds, c.baseline_seconds, c.ceiling_seconds, c.drain_wait, c.profile_seconds = (
        (3.0, 2.0, 2.0, 10.0, 4.0) if c.quick else (10.0, 8.0, 5.0, 20.0, 15.0)
    )
    return c


# ---- Phases ----------------------------------------------------------------------------------


@dataclass
class LatencyPhase:
    """Latency at a fixed offered rate (open loop)."""

    rate: float
    load: LoadResult
    seconds: float
    db_lead: list[float]  # created_at - received_at; inf for never
    seen_lead: list[float]  # first seen by the poller - scheduled send; inf for never
    triaged: int
    not_routed: int
    waited_s: float
    backlog_start: int
    cpu: dict[str, float]
    recovery_s: float = 0.0  # after the run, until the API answered a health check again


@dataclass
class SustainedPhase:
    """Sustained throughput in a closed loop."""

    load: LoadResult
    seconds: float
    routed: int
    dispatched: int
    triaged: int
    received: int
    backlog_start: int
    backlog_end: int
    pending_end: int
    deliveries_end: int  # delivery jobs waiting in their RQ queue
    cpu: dict[str, float]


@dataclass
class OverloadPhase:
    """Past capacity with phones that send a refused report again: answered fast, none lost."""

    rate: float
    load: LoadResult
    seconds: float
    stored: int  # of the reports made, how many are in the database
    doubled: int  # client_ids stored more than once, or answered with two event ids
    stored_unanswered: int  # stored although the phone gave up on it
    cpu: dict[str, float]


@dataclass
class Results:
    """Everything the report prints."""

    tree: str
    ceiling: LoadResult
    bare_closed: LoadResult
    bare_open: LoadResult
    light: LatencyPhase | None
    b: LatencyPhase
    a: SustainedPhase
    profiles: dict[str, str]
    overload: OverloadPhase | None = None


@dataclass
class System:
    """The system under test, running, and what its phases post with."""

    config: Config
    service: Service
    token: str
    pool: ReportPool

    def closed(self, seconds: float, seed: int, start_at: float | None = None) -> LoadResult:
        """Post in a closed loop from --clients clients over --gen-procs processes."""
        c = self.config
        return closed_loop(
            self.service.base, self.token, self.pool, seconds=seconds, clients=c.clients,
            procs=c.gen_procs, seed=seed, start_at=start_at,
        )  # fmt: skip


def measure_bare(
    config: Config, env: dict[str, str], processes: Processes, pool: ReportPool
) -> tuple[LoadResult, LoadResult]:
    """Serve the bare app like the real one; run the same closed and open loops on it."""
    base, bare = start_api(processes, env, "bare", "bench._bare_app:create_app", config.api_procs)
    try:
        say("bare baseline: warm-up, closed loop, open loop")
        closed_loop(base, None, pool, seconds=1.0, clients=8, procs=1, seed=2)
        seconds, procs = config.baseline_seconds, config.gen_procs
        closed = closed_loop(
            base, None, pool, seconds=seconds, clients=config.clients, procs=procs, seed=3
        )
        opened = open_loop(
            base, None, pool, seconds=seconds, rate=config.rate,
            connections=config.connections, procs=procs, seed=4,
        )  # fmt: skip
    finally:
        processes.stop(bare)
    return closed, opened


def latency_phase(system: System, offered: float, seconds: float) -> LatencyPhase:
    """Offer a fixed rate, then wait (bounded) for routing; measure POST and POST -> lead."""
    config = system.config
    say(f"latency: {offered:,.0f}/s offered for {seconds:.0f} s, open loop")
    backlog_start = waiting_count(DB_NAME)
    meter = CpuMeter(service_cpu_groups(system.service, DB_NAME))
    start_at = time.time() + START_DELAY_S
    with LeadPoller(DB_NAME, POLL_INTERVAL_S) as poller:
        with meter.window(start_at, seconds):
            load = open_loop(
                system.service.base, system.token, system.pool, seconds=seconds, rate=offered,
                connections=config.connections, procs=config.gen_procs, seed=int(offered),
                record_ids=True, start_at=start_at,
            )  # fmt: skip
        started = time.monotonic()
        wait_routed(DB_NAME, config.drain_wait)
        time.sleep(3 * POLL_INTERVAL_S)
        waited = time.monotonic() - started
    if poller.error is not None:
        raise RuntimeError(f"the lead poller failed: {poller.error!r}")
    db, seen, triaged, not_routed = lead_latencies(DB_NAME, load, poller.seen)
    cpu = meter.shares_beside(load.cpu_s, load.wall_s)
    return LatencyPhase(
        offered, load, seconds, db, seen, triaged, not_routed, waited, backlog_start, cpu
    )


def sustained_phase(system: System) -> SustainedPhase:
    """Post in a closed loop for --duration; count what was accepted and routed meanwhile."""
    config = system.config
    say(f"sustained: {config.clients} clients, closed loop, {config.duration:.0f} s")
    meter = CpuMeter(service_cpu_groups(system.service, DB_NAME))
    backlog_start = waiting_count(DB_NAME)
    t0 = time.time() + START_DELAY_S
    with meter.window(t0, config.duration):
        load = system.closed(config.duration, seed=8, start_at=t0)
    cpu = meter.shares_beside(load.cpu_s, load.wall_s)
    backlog_end = waiting_count(DB_NAME)
    pending_end, deliveries_end = pending_in_redis(config.redis_url)
    in_window = "extract(epoch FROM routed_at) BETWEEN %(t0)s AND %(t1)s"
    counts = query(
        DB_NAME,
        f"SELECT count(*) FILTER (WHERE status IN ('dispatched', 'needs_triage') "
        f"AND {in_window}), "
        f"count(*) FILTER (WHERE status = 'dispatched' AND {in_window}), "
        f"count(*) FILTER (WHERE status = 'needs_triage' AND {in_window}), "
        "count(*) FILTER (WHERE extract(epoch FROM received_at) BETWEEN %(t0)s AND %(t1)s) "
        "FROM event",
        {"t0": t0, "t1": t0 + config.duration},
    )[0]
    routed, dispatched, triaged, received = (int(n) for n in counts)
    return SustainedPhase(
        load, config.duration, routed, dispatched, triaged, received, backlog_start,
        backlog_end, pending_end, deliveries_end, cpu,
    )  # fmt: skip


def overload_phase(system: System, offered: float) -> OverloadPhase:
    """Offer more than the service can take, from phones that retry; count what was lost."""
    config = system.config
    seconds = config.overload_seconds
    say(f"overload: {offered:,.0f}/s offered for {seconds:.0f} s, phones retrying on 503")
    meter = CpuMeter(service_cpu_groups(system.service, DB_NAME))
    start_at = time.time() + START_DELAY_S
    with meter.window(start_at, seconds):
        load = open_loop(
            system.service.base, system.token, system.pool, seconds=seconds, rate=offered,
            connections=config.overload_connections, procs=config.gen_procs,
            seed=int(offered) + 1, start_at=start_at, phone=True,
        )  # fmt: skip
    cpu = meter.shares_beside(load.cpu_s, load.wall_s)
    rows = query(
        DB_NAME,
        "SELECT client_id, count(*) FROM event WHERE client_id = ANY(%(ids)s) GROUP BY client_id",
        {"ids": load.client_ids},
    )
    doubled = sum(1 for _, n in rows if n > 1)
    doubled += len(load.accepted_ids) - len(set(load.accepted_ids))
    stored = len(rows)
    return OverloadPhase(
        offered, load, seconds, stored, doubled, stored - len(load.accepted_ids), cpu
    )


# ---- Orchestration ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run every phase and print the table; clean up whatever happens."""
    config = parse_args(argv)
    return run_bench(
        "intake", DB_NAME, config.redis_url, lambda env, procs, work: run(config, env, procs, work)
    )


def run(config: Config, env: dict[str, str], processes: Processes, work: Path) -> int:
    """Run the phases and print the report."""
    tree = tree_state()
    pool = prepared_demo(env["DATABASE_URL"], DB_NAME, seed=7)
    generator = ceiling(
        pool, seconds=config.ceiling_seconds, clients=config.clients, procs=config.gen_procs
    )
    bare_closed, bare_open = measure_bare(config, env, processes, pool)

    service = start_service(processes, env, api_procs=config.api_procs, workers=config.workers)
    system = System(config, service, sign_in(service.base, REPORTER), pool)
    say("system: warm-up (routers built in every API process)")
    warm = closed_loop(
        service.base, system.token, pool, seconds=3.0, clients=config.clients, procs=1, seed=5
    )
    if not warm.statuses.get("201"):
        raise RuntimeError(f"warm-up reports were refused: {dict(warm.statuses)}; see {work}")
    if left := wait_routed(DB_NAME, 30.0):
        say(f"warning: {left} warm-up events still wait for routing; the first phase starts anyway")

    light = None
    if config.light_rate > 0:
        light = latency_phase(system, config.light_rate, config.light_seconds)
    a = sustained_phase(system)
    profiles: dict[str, str] = {}
    if config.profile:
        # The API is sampled only while a thread holds the GIL: one process's CPU-bound
        # Python work is what limits it. The worker is sampled whenever it is not idle,
        # so its waits on PostgreSQL show up too.
        seconds = max(1, int(config.profile_seconds))
        targets = {"API": (service.api.pid, ["--gil"]), "worker-0": (service.workers[0].pid, [])}
        with profiled(processes, work, targets, seconds) as profiles:
            system.closed(seconds, seed=9)
    say(f"waiting up to {config.drain_wait:.0f} s for the backlog to be routed")
    wait_routed(DB_NAME, config.drain_wait)
    # Last, because overload may leave the API stalled for a while.
    b = latency_phase(system, config.rate, config.latency_seconds)
    health = f"{service.base}/api/health"
    b.recovery_s = answer_time(health, service.api, RECOVERY_WAIT_S, interval_s=0.5)
    overload = None
    if config.overload > 0:
        wait_routed(DB_NAME, config.drain_wait)
        sustainable = max(per_s(a.routed, a.seconds), 1.0)
        overload = overload_phase(system, config.overload * sustainable)
    results = Results(tree, generator, bare_closed, bare_open, light, b, a, profiles, overload)
    print_report(config, results, work)
    return 0


# ---- The report ----------------------------------------------------------------------------


def recovery(seconds: float) -> str:
    """Say how long the API took to answer again after the overload."""
    if math.isinf(seconds):
        return f"; afterwards the API did not answer a health check within {RECOVERY_WAIT_S:.0f} s"
    return f"; afterwards the API answered a health check after {ms(seconds)}"


def print_report(config: Config, r: Results, work: Path) -> None:
    """Print the table, the verdicts against the targets and the supporting figures."""
    a, b = r.a, r.b
    accepted = per_s(a.load.ok_in_window, a.seconds)
    routed = per_s(a.routed, a.seconds)
    lead_p99 = max(percentile(b.seen_lead, 99), percentile(b.db_lead, 99))
    cores = psutil.cpu_count() or 0
    widths = (44, 22, 22, 18, 22)

    def line(
        label: str, system: str = "", bare: str = "", target: str = "", filed: str = ""
    ) -> str:
        return row((label, system, bare, target, filed), widths)

    lines = [
        "",
        f"Intake benchmark — {cores} cores; {r.tree}",
        f"API and bare app: uvicorn --workers {config.api_procs} (uvloop, httptools, no "
        f"access log); {config.workers} RQ workers + the sweeper; PostgreSQL {DB_NAME}; "
        f"generator: {config.gen_procs} process(es), bench/harness/wire.py, one connection "
        "per client"
        + ("\n[--quick: a smoke check; these figures mean little]" if config.quick else ""),
        "",
        line("", "system", "bare FastAPI", "target", "at filing"),
        f"Sustained: closed loop, {config.clients} clients, {a.seconds:.0f} s",
        line(
            "  POSTs accepted/s",
            rate(accepted),
            rate(per_s(r.bare_closed.ok_in_window, config.baseline_seconds)),
            "",
            AT_FILING["accepted"],
        ),
        line(
            "  POST p50 / p99",
            pair(a.load.post_latencies()),
            pair(r.bare_closed.post_latencies()),
            "",
            AT_FILING["post"],
        ),
        line(
            "  events routed/s end to end",
            rate(routed),
            "—",
            rate(TARGET_SUSTAINED),
            AT_FILING["routed"],
        ),
        line("  backlog at end (events still reported)", f"{a.backlog_end:,}", "—"),
    ]
    for phase, label in ((b, "Phase B"), (r.light, "Light load")):
        if phase is None:
            continue
        is_b = phase is b
        lines += [
            f"{label}: {rate(phase.rate)} offered, open loop, {phase.seconds:.0f} s"
            + ("" if is_b else " (for comparison: latency without queueing)"),
            line(
                "  POSTs answered 2xx/s",
                rate(per_s(phase.load.ok, phase.seconds)),
                rate(per_s(r.bare_open.ok, config.baseline_seconds)) if is_b else "",
                "",
                AT_FILING["b_answered"] if is_b else "",
            ),
            line(
                "  POST p50 / p99",
                pair(phase.load.post_latencies()),
                pair(r.bare_open.post_latencies()) if is_b else "",
                "",
                AT_FILING["b_post"] if is_b else "",
            ),
            line(
                "  POST→lead p50 / p99 (observed)",
                pair(phase.seen_lead),
                "—" if is_b else "",
                f"p99 ≤ {TARGET_P99_S * 1000:,.0f} ms" if is_b else "",
                "" if is_b else AT_FILING["light_lead"],
            ),
            line("  POST→lead p50 / p99 (DB stamps)", pair(phase.db_lead), "—" if is_b else ""),
        ]
    if (o := r.overload) is not None:
        made = len(o.load.client_ids)
        lines += [
            f"Overload: {rate(o.rate)} offered ({config.overload:g}× the sustained rate), "
            f"{o.seconds:.0f} s, phones sending refused reports again",
            line(
                "  attempts answered within 1 s",
                f"{o.load.prompt / max(o.load.attempts, 1):.1%}",
                "",
                "100%",
            ),
            *(
                line(f"  attempt answered {status}: p50 / p99", pair(seconds), "")
                for status, seconds in sorted(o.load.answer_s.items())
            ),
            line("  reports lost (never stored)", f"{made - o.stored:,} of {made:,}", "", "0"),
            line("  reports doubled", f"{o.doubled:,}", "", "0"),
            line("  first send → accepted p50 / p99", pair(o.load.accepted_after), ""),
        ]
    top = per_s(r.ceiling.ok_in_window, config.ceiling_seconds)
    lines += [
        "",
        f"Generator ceiling (same generator, {config.clients} clients, against a canned-response "
        f"server): {rate(top)}; generator CPU {per_s(r.ceiling.cpu_s, r.ceiling.wall_s):.0%} "
        f"of a core, {1e6 * r.ceiling.cpu_s / max(r.ceiling.sent, 1):,.0f} µs per request",
        "",
        "Targets:",
        f"  1,000 events/s sustained end to end: {rate(routed)} routed, {rate(accepted)} accepted"
        f" — {'MET' if routed >= TARGET_SUSTAINED else 'NOT met'}",
        f"  p99 POST→lead ≤ 1 s at {rate(TARGET_RATE)}: "
        + (
            f"not tested (--rate {rate(config.rate)})"
            if config.rate < TARGET_RATE
            else f"p99 {ms(lead_p99)} (the worse of observed and DB stamps) — "
            + ("MET" if lead_p99 <= TARGET_P99_S else "NOT met")
        ),
        "",
        "Details:",
        f"  sustained: {a.load.ok_in_window:,} accepted in the window; errors {errors(a.load)}; "
        f"received {a.received:,}; routed {a.routed:,} (dispatched {a.dispatched:,}, "
        f"needs_triage {a.triaged:,}); backlog {a.backlog_start:,} at the start, "
        f"{a.backlog_end:,} at the end ({a.pending_end:,} ids in the Redis pending set); "
        f"{a.deliveries_end:,} delivery jobs waiting in their queue at the end",
    ]
    for phase in (p for p in (r.light, b) if p is not None):
        lines.append(
            f"  {rate(phase.rate)}: {phase.load.sent:,} sent; errors {errors(phase.load)}; worst "
            f"send lag {ms(phase.load.lag_max_s)}; {len(phase.load.ids):,} created: "
            f"{len(phase.load.ids) - phase.triaged - phase.not_routed:,} got a lead, "
            f"{phase.triaged:,} went to triage, {phase.not_routed:,} still unrouted after "
            f"waiting {phase.waited_s:.0f} s; backlog at the start {phase.backlog_start:,}"
            + (recovery(phase.recovery_s) if phase is b else "")
        )
    if (o := r.overload) is not None:
        lines.append(
            f"  overload: {len(o.load.client_ids):,} reports, {o.load.attempts:,} attempts "
            f"({', '.join(f'{k}×{v}' for k, v in sorted(o.load.statuses.items()))}); "
            f"{len(o.load.accepted_ids):,} accepted; {o.stored_unanswered:,} stored but given "
            "up by the phone"
        )
    lines += [
        f"  bare: closed-loop errors {errors(r.bare_closed)}; open-loop errors "
        f"{errors(r.bare_open)}, worst send lag {ms(r.bare_open.lag_max_s)}",
        "",
        f"CPU by phase, in shares of one core (the machine has {cores}; PostgreSQL and Redis "
        "are shared with whoever else uses them; 'everything else' is the rest of the machine):",
    ]
    phases = [(f"light {rate(r.light.rate)}", r.light.cpu)] if r.light else []
    phases += [("sustained", a.cpu), (f"Phase B {rate(b.rate)}", b.cpu)]
    phases += [(f"overload {rate(r.overload.rate)}", r.overload.cpu)] if r.overload else []
    cpu_widths = (58, *(16 for _ in phases))
    lines.append("  " + row(("", *(name for name, _ in phases)), cpu_widths, sep=""))
    for key in a.cpu:
        shares = (f"{cpu.get(key, math.nan):.0%}" for _, cpu in phases)
        lines.append("  " + row((key, *shares), cpu_widths, sep=""))
    for name, summary in r.profiles.items():
        lines += ["", f"Profile of the {name} (py-spy):", summary]
    lines += ["", f"Logs and raw profiles: {work}"]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
