"""The routing drain: RQ jobs take ids only, re-read their rows and are safe to rerun."""

from __future__ import annotations

import contextlib
import logging
import time

import redis
from rq import get_current_job

from dispatch.core.db import cancel_running_statement
from dispatch.core.queues import (
    DRAIN_RENEW_S,
    PENDING_KEY,
    hold_drain_flag,
    offer_for_routing,
    offer_helper_drain,
    release_drain_flag,
    take_pending,
)
from dispatch.jobs.context import WorkerContext, worker_context
from dispatch.loop.dispatching import Routed, route_events
from dispatch.transaction import transaction

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A drain hands over to a fresh job after this long, so other queued work gets a turn.
DRAIN_BUDGET_S = 5.0
# A drain that finds nothing pending looks again every LINGER_S until it has found nothing for
# IDLE_S: under steady light load one job serves batch after batch (a job's enqueue, its
# registries and its result cost more than routing a report or two), and at rest nothing polls.
LINGER_S = 0.02
IDLE_S = 0.25


def drain_routing(slot: int = 0) -> int:
    """Route every event waiting in the pending set, in batches; return how many were taken.

    The slot's drain flag stands while the drain runs, so no second job is queued in it
    meanwhile; the drain lowers it as it ends and offers again what is pending then (a report
    offered while the flag still stood), which queues the next drain. A drain that takes a
    full batch and still sees one pending queues a helper in a free slot, if a worker is idle
    for it (queues.offer_helper_drain).
    """
    job = get_current_job()
    assert job is not None, "drain_routing runs inside an RQ worker"
    connection = job.connection
    hold_drain_flag(connection, slot)
    context = worker_context()
    started = held = time.monotonic()
    idle_since: float | None = None
    taken = 0
    try:
        while (now := time.monotonic()) - started <= DRAIN_BUDGET_S:
            if now - held >= DRAIN_RENEW_S:
                hold_drain_flag(connection, slot)
                held = now
            if ids := take_pending(connection, BATCH_SIZE):
                if len(ids) == BATCH_SIZE and connection.scard(PENDING_KEY) >= BATCH_SIZE:
                    offer_helper_drain(connection)
                route_batch(context, connection, ids)
                taken += len(ids)
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= IDLE_S:
                break
            time.sleep(LINGER_S)
    except BaseException:
        # Not offered again at once: a failure that persists (the database away) would spin
        # job after job. The ids are back in the pending set; the next report or the sweeper
        # queues the next drain.
        with contextlib.suppress(redis.RedisError):  # Redis itself may be what failed
            release_drain_flag(connection, slot)
        raise
    release_drain_flag(connection, slot)
    offer_for_routing(connection, take_pending(connection, BATCH_SIZE))
    return taken


def route_batch(context: WorkerContext, connection: redis.Redis, ids: list[int]) -> list[Routed]:
    """Route one batch in one transaction; on any failure, a timeout too, give the ids back."""
    try:
        with transaction(context.engine, connection) as session:
            try:
                built = context.reference.get(session)
                routed = route_events(session, built.router, built.calendar, ids)
            except BaseException:  # the job's timeout among them: its locks must go now
                cancel_running_statement(session)
                raise
    except Exception:
        connection.sadd(PENDING_KEY, *ids)
        raise
    log.info("routed %d of %d events", len(routed), len(ids))
    return routed
