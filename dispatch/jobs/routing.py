"""The routing drain: RQ jobs take ids only, re-read their rows and are safe to rerun."""

from __future__ import annotations

import logging
import time

import redis
from rq import get_current_job

from dispatch.core.db import cancel_running_statement
from dispatch.core.queues import PENDING_KEY, offer_for_routing, release_drain_flag, take_pending
from dispatch.jobs.context import WorkerContext, worker_context
from dispatch.loop.dispatching import Routed, route_events
from dispatch.transaction import transaction

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A drain hands over to a fresh job after this long, so other queued work gets a turn.
DRAIN_BUDGET_S = 5.0


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
