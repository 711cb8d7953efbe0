"""The scheduler's work: re-offer unrouted events, raise deadline warnings."""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from sqlalchemy import Engine

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.queues import offer_for_routing
from dispatch.loop.dispatching import waiting_for_routing
from dispatch.supervision.alerts import raise_deadline_alerts
from dispatch.transaction import transaction

log = logging.getLogger(__name__)
# The sweeper leaves fresh events to the normal hand-off for this long.
SWEEP_GRACE = timedelta(seconds=5)


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
    with transaction(engine, connection) as session:
        alerts = raise_deadline_alerts(session)
    if alerts:
        log.info("raised %d deadline warnings", len(alerts))
    return len(alerts)
