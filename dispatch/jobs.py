"""RQ jobs and the sweeper. Jobs take ids only, re-read their rows and are safe to rerun."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from rq import get_current_job
from sqlalchemy import Engine

from dispatch.boards import publish_after_commit
from dispatch.db import make_engine, session_scope
from dispatch.delivery import deliver, enqueue_deliveries_quietly, with_webhooks
from dispatch.events import Routed, route_events, waiting_for_routing
from dispatch.jurisdictions import sole_county_code
from dispatch.models import utcnow
from dispatch.queue import (
    PENDING_KEY,
    offer_for_routing,
    release_drain_flag,
    take_pending,
)
from dispatch.router import Router
from dispatch.settings import Settings, get_settings
from dispatch.supervision import raise_deadline_alerts
from dispatch.workcalendar import WorkCalendar, load_calendar

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A drain hands over to a fresh job after this long, so other queued work gets a turn.
DRAIN_BUDGET_S = 5.0
# The sweeper leaves fresh events to the normal hand-off for this long.
SWEEP_GRACE = timedelta(seconds=5)


@dataclass
class WorkerContext:
    """What a worker process builds once: the engine, the router and the calendar."""

    settings: Settings
    engine: Engine
    router: Router
    calendar: WorkCalendar
    pid: int


_context: WorkerContext | None = None


def worker_context() -> WorkerContext:
    """Return this process's context, building the index and calendar on first use.

    The worker builds it once before forking a work horse per job; a forked horse keeps
    the built index (copy-on-write) but must not share the parent's database connections.
    """
    global _context
    if _context is not None and _context.pid != os.getpid():
        _context.engine.dispose(close=False)
        _context.pid = os.getpid()
    if _context is None:
        settings = get_settings()
        engine = make_engine(settings.effective_database_url)
        with session_scope(engine) as session:
            router = Router.load(
                session,
                near_distance_m=settings.near_boundary_m,
                threshold=settings.classify_threshold,
            )
            calendar = load_calendar(session)
            # Build the classifier of the list in force now, so forked jobs inherit it.
            router.rules_for(session, sole_county_code(session), utcnow())
        _context = WorkerContext(settings, engine, router, calendar, os.getpid())
    return _context


def reset_worker_context() -> None:
    """Forget the built context (after reference data changed, and between tests)."""
    global _context
    if _context is not None:
        _context.engine.dispose()
    _context = None


def drain_routing() -> int:
    """Route every event waiting in the pending set, in batches; return how many were taken."""
    job = get_current_job()
    assert job is not None, "drain_routing runs inside an RQ worker"
    connection = job.connection
    release_drain_flag(connection)
    context = worker_context()
    started = time.monotonic()
    taken = 0
    while ids := take_pending(connection, BATCH_SIZE):
        route_batch(context, connection, ids)
        taken += len(ids)
        if time.monotonic() - started > DRAIN_BUDGET_S:
            offer_for_routing(connection, take_pending(connection, BATCH_SIZE))
            break
    return taken


def route_batch(context: WorkerContext, connection: redis.Redis, ids: list[int]) -> list[Routed]:
    """Route one batch in one transaction; on failure give the ids back and re-raise."""
    try:
        with session_scope(context.engine) as session:
            publish_after_commit(session, connection)
            routed = route_events(session, context.router, context.calendar, ids)
            created = [a for r in routed for a in r.assignment_ids]
            # Boards read the streams; only departments with a webhook need a delivery job.
            deliverable = with_webhooks(session, created)
    except Exception:
        connection.sadd(PENDING_KEY, *ids)
        raise
    log.info("routed %d of %d events", len(routed), len(ids))
    enqueue_deliveries_quietly(connection, deliverable)
    return routed


def deliver_assignment(assignment_id: int) -> str:
    """Deliver one new assignment to its department's own system; running it twice posts once."""
    return deliver(worker_context().engine, assignment_id).value


def sweep(engine: Engine, connection: redis.Redis, *, limit: int = 5000) -> int:
    """Offer again every committed event still waiting for routing; return how many."""
    with session_scope(engine) as session:
        ids = waiting_for_routing(session, older_than=utcnow() - SWEEP_GRACE, limit=limit)
    if ids:
        offer_for_routing(connection, ids)
        log.info("sweeper re-offered %d waiting events", len(ids))
    return len(ids)


def alert_deadlines(engine: Engine, connection: redis.Redis | None) -> int:
    """Raise the deadline warnings now due, publishing them to the boards; return how many."""
    with session_scope(engine) as session:
        publish_after_commit(session, connection)
        alerts = raise_deadline_alerts(session)
    if alerts:
        log.info("raised %d deadline warnings", len(alerts))
    return len(alerts)
