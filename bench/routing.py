"""Benchmark the routing worker in-process on PostgreSQL: per event, per batch, per job.

    python bench/routing.py [--events 2000] [--batch 200] [--jobs 200] [--redis-db 14]
                            [--redis-port 6379]

A fresh PostgreSQL database `sipingtai_bench_routing` (migrated, the demo county and users
loaded, dropped at the end) and one Redis database (flushed before and after; never 0 or 15).
Reports are stored by intake's own domain function (`events.service.report_event`): points
inside random demo grids, hand-written descriptions, the matter code for most, some urgent;
intake itself is not timed.

Two figures, each printed side by side:

1. Routing a batch (`jobs.routing.route_batch`: one transaction, board cards published after
   the commit) the way it is done now, beside the way it was done before the bulk path (each
   event decided, its assignments flushed and its steps added one event at a time; kept
   callable here as `route_one_by_one`). The two take turns, batch by batch, on events of the
   same kind. Events/s, this process's CPU ms per event, the PostgreSQL backend's CPU ms per
   event, and statements sent per batch.
2. The cost of running a job: --jobs empty drain jobs, worked off in burst mode by the RQ
   worker forking a horse per job (rq.Worker) and by the worker we run (no fork), CPU ms per
   job counted with the horses' reaped CPU.

Read the figures with the load average printed beside them (the machine is shared). Figures
only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.cpu import postgres_backends
from bench.harness.db import flushed_redis, load_demo_database, redis_url, scratch_database
from bench.harness.processes import say
from bench.harness.reports import ReportPool, demo_pool
from bench.harness.stats import row

DB_NAME = "sipingtai_bench_routing"
RouteFn = Callable[..., Sequence[object]]


@dataclass
class Tally:
    """What one way of routing cost, summed over its batches."""

    name: str
    events: int = 0
    routed: int = 0
    leads: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    pg_cpu_s: float = 0.0
    statements: list[int] = field(default_factory=list)

    def cells(self) -> list[str]:
        """Return its table row."""
        per = 1000 / self.events if self.events else float("nan")
        return [
            self.name,
            f"{self.events / self.wall_s:,.0f}/s" if self.wall_s else "n/a",
            f"{self.cpu_s * per:.2f}",
            f"{self.pg_cpu_s * per:.2f}",
            f"{(self.cpu_s + self.pg_cpu_s) * per:.2f}",
            f"{sum(self.statements) / max(len(self.statements), 1):,.0f}",
            f"{self.routed}/{self.leads}",
        ]


def route_one_by_one(
    session: Any,
    router: Any,
    calendar: Any,
    event_ids: Sequence[int],
    *,
    now: datetime | None = None,
) -> list[object]:
    """Route a batch as `route_events` did before the bulk path (62260b4): event by event.

    Each event's transition and steps are ORM objects added one by one, and its assignments
    flushed on their own, as `apply_decision` and `create_assignments` did then.
    """
    from sqlmodel import col, select

    from dispatch.core.clock import utcnow
    from dispatch.events.models import Event, EventStatus
    from dispatch.loop.dispatching import Routed, deadlines

    now = now or utcnow()
    query = (
        select(Event)
        .where(col(Event.id).in_(list(event_ids)), Event.status == EventStatus.REPORTED)
        .order_by(col(Event.id))
        .with_for_update(skip_locked=True)
    )
    results: list[object] = []
    for event in session.exec(query).all():
        location = router.index.locate(event.lon, event.lat)
        decision = router.decide_at(
            session,
            location,
            matter_code=event.reported_matter_code,
            description=event.description,
            urgent=event.urgent,
            at=event.received_at,
        )
        event.routing = decision.to_dict()
        event.routed_at = now
        if not decision.routed:
            _move(
                session,
                event,
                "NEED_TRIAGE",
                now,
                "；".join(decision.triage_reasons),
                {"suggestions": [s.code for s in decision.suggestions]},
            )
            results.append(Routed(event.id, EventStatus.NEEDS_TRIAGE, (), event.township_code))
            continue
        event.matter_code = decision.matter.code
        event.matter_list_id = decision.matter.list_id
        event.platform_code = decision.platform.code if decision.platform else None
        event.sign_by, event.handle_by = deadlines(calendar, now, decision.limits)
        _move(
            session,
            event,
            "ROUTE",
            now,
            "\n".join(decision.reasons),
            {"matter": decision.matter.code, "list_version": decision.matter.list_version},
        )
        created = _old_create_assignments(session, event, decision, now)
        results.append(
            Routed(
                event.id,
                event.status,
                tuple(a.id for a in created),
                event.township_code,
                event.matter_code,
                tuple(a.department_id for a in created),
            )
        )
    return results


def _move(session: Any, event: Any, action: str, now: datetime, reason: str, data: Any) -> None:
    from dispatch.events.lifecycle import EventAction
    from dispatch.events.steps import move_event

    move_event(session, event, EventAction[action], at=now, reason=reason, data=data)


def _old_create_assignments(session: Any, event: Any, decision: Any, now: datetime) -> list[Any]:
    """Insert the parts as ORM objects, flush, then add a step per part (as before)."""
    from dispatch.core.outbox import Handoff, outbox_of
    from dispatch.events.lifecycle import PART_ROLE_LABELS
    from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus
    from dispatch.events.steps import add_step

    created = []
    for plan in decision.assignments:
        assignment = Assignment(
            event_id=event.id,
            department_id=plan.department_id,
            role=AssignmentRole(plan.role),
            round=1,
            status=AssignmentStatus.PENDING,
            on_behalf_of_id=plan.on_behalf_of_id,
            duties=list(plan.duties),
            duties_text=plan.duties_text,
            sign_by=event.sign_by,
            handle_by=event.handle_by,
            created_at=now,
        )
        session.add(assignment)
        created.append(assignment)
    session.flush()
    for assignment, plan in zip(created, decision.assignments, strict=True):
        add_step(
            session,
            event,
            action="dispatch",
            assignment=assignment,
            from_org=decision.township.name if decision.township else None,
            to_org=plan.department_name,
            to_status=AssignmentStatus.PENDING,
            reason=f"{PART_ROLE_LABELS[AssignmentRole(plan.role)]}: {plan.department_name}",
            at=now,
        )
    outbox_of(session).hand_off(Handoff.DELIVERY, [a.id for a in created if a.id is not None])
    return created


def report(url: str, pool: ReportPool, count: int, seed: int) -> list[int]:
    """Store count reports as intake does, in one transaction; return their ids."""
    from dispatch.core.db import make_engine, session_scope
    from dispatch.events.intake import report_event
    from dispatch.events.schemas import EventCreate
    from dispatch.routing.router import Router

    rng = random.Random(seed)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            router = Router.load(session, near_distance_m=50, threshold=0.5)
            ids = []
            for _ in range(count):
                body = EventCreate.model_validate_json(pool(rng))
                event = report_event(session, router, body).event
                assert event.id is not None
                ids.append(event.id)
        return ids
    finally:
        engine.dispose()


def cpu_of(processes: list[Any]) -> float:
    """Return the CPU seconds so far of these processes."""
    total = 0.0
    for p in processes:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def bench_batches(url: str, redis: str, ids: list[int], batch: int) -> list[Tally]:
    """Route the ids batch by batch, the two ways taking turns; return their tallies."""
    from sqlalchemy import event

    from dispatch.core.redis import connect
    from dispatch.core.settings import get_settings
    from dispatch.jobs import routing
    from dispatch.jobs.context import worker_context
    from dispatch.loop import dispatching

    context = worker_context()
    connection = connect(redis)
    counted: list[int] = [0]

    def count(*_: object) -> None:
        counted[0] += 1

    event.listen(context.engine, "before_cursor_execute", count)
    # Warm both paths (the classifier, the calendar, the statement caches) on a batch each.
    ways: list[tuple[Tally, RouteFn]] = [
        (Tally("one event at a time (before)"), route_one_by_one),
        (Tally("bulk (now)"), dispatching.route_events),
    ]
    original = routing.route_events
    chunks = [ids[i : i + batch] for i in range(0, len(ids), batch)]
    warm, chunks = chunks[:2], chunks[2:]
    try:
        for chunk, (_, fn) in zip(warm, ways, strict=False):
            routing.route_events = fn  # type: ignore[assignment]
            routing.route_batch(context, connection, chunk)
        with context.engine.connect() as probe:  # the backend the routing session will reuse
            probe.exec_driver_sql("SELECT 1")
        backends = postgres_backends(DB_NAME)
        for n, chunk in enumerate(chunks):
            tally, fn = ways[n % 2]
            routing.route_events = fn  # type: ignore[assignment]
            counted[0] = 0
            pg0, cpu0, t0 = cpu_of(backends), time.process_time(), time.perf_counter()
            routed = routing.route_batch(context, connection, chunk)
            tally.wall_s += time.perf_counter() - t0
            tally.cpu_s += time.process_time() - cpu0
            tally.pg_cpu_s += cpu_of(backends) - pg0
            tally.events += len(chunk)
            tally.routed += len(routed)
            tally.leads += sum(1 for r in routed if getattr(r, "assignment_ids", ()))
            tally.statements.append(counted[0])
    finally:
        routing.route_events = original
        event.remove(context.engine, "before_cursor_execute", count)
        connection.close()
    del get_settings
    return [t for t, _ in ways]


def children_cpu() -> float:
    """Return the CPU seconds of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_jobs(redis: str, jobs: int) -> list[tuple[str, float, float]]:
    """Work off empty drain jobs with a forking worker and with ours; (name, ms/job, wall/job)."""
    from rq import Queue, Worker

    from dispatch.core.queues import ROUTING_QUEUE
    from dispatch.core.redis import connect
    from dispatch.jobs.worker import RoutingWorker

    connection = connect(redis)
    queue = Queue(ROUTING_QUEUE, connection=connection)
    found = []
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("rq.Worker: a horse forked per job", lambda: Worker([queue], connection=connection)),
        ("RoutingWorker: jobs in the worker itself", lambda: RoutingWorker([queue], connection)),
    ]
    for name, make in makers:
        for n in range(jobs):
            queue.enqueue_call(
                "dispatch.jobs.routing.drain_routing", job_id=f"bench-{name[:2]}-{n}", result_ttl=0
            )
        worker = make()
        cpu0, t0 = children_cpu(), time.perf_counter()
        worker.work(burst=True)
        found.append(
            (name, (children_cpu() - cpu0) * 1000 / jobs, (time.perf_counter() - t0) / jobs)
        )
    connection.close()
    return found


def main(argv: list[str] | None = None) -> None:
    """Run the bench and print its tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events routed, both ways")
    parser.add_argument("--batch", type=int, default=200, help="events per batch")
    parser.add_argument("--jobs", type=int, default=200, help="empty drain jobs per worker kind")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database (not 0 or 15)")
    parser.add_argument("--redis-port", type=int, default=6379, help="Redis on 127.0.0.1")
    args = parser.parse_args(argv)
    redis = redis_url(args.redis_db, args.redis_port)
    from dispatch.core.settings import get_settings
    from dispatch.jobs.context import reset_worker_context

    with scratch_database(DB_NAME) as url, flushed_redis(redis):
        say("loading the demo county")
        load_demo_database(url)
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = url, redis
        get_settings.cache_clear()
        pool = demo_pool(url, seed=7)
        total = args.events + 2 * args.batch
        say(f"reporting {total:,} events")
        ids = report(url, pool, total, seed=11)
        say("routing")
        tallies = bench_batches(url, redis, ids, args.batch)
        from dispatch.jobs.worker import rss_bytes

        rss_mb = rss_bytes() / 2**20
        say("running empty jobs")
        jobs = bench_jobs(redis, args.jobs)
        reset_worker_context()
    load = os.getloadavg()
    print(f"\nRouting {args.events:,} events in batches of {args.batch} (PostgreSQL, in-process)")
    widths = [30, 10, 10, 10, 10, 11, 12]
    head = ["", "events/s", "CPU ms/ev", "PG ms/ev", "sum ms/ev", "stmts/batch", "routed/lead"]
    print(row(head, widths))
    for tally in tallies:
        print(row(tally.cells(), widths))
    print(f"\nEmpty drain jobs ({args.jobs} per worker, burst mode)")
    print(row(["", "CPU ms/job", "wall ms/job"], [42, 11, 12]))
    for name, cpu_ms, wall_s in jobs:
        print(row([name, f"{cpu_ms:.2f}", f"{wall_s * 1000:.2f}"], [42, 11, 12]))
    print(f"\nthis process's RSS after routing (index, calendar, pools): {rss_mb:,.0f} MB")
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")


if __name__ == "__main__":
    main()
