"""The scheduler's work: re-offer unrouted events, raise deadline warnings and rule notices,
store the settled days' assessment facts."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import redis
from sqlalchemy import Engine

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope, without_jit
from dispatch.core.queues import offer_for_routing
from dispatch.loop.dispatching import waiting_for_routing
from dispatch.reports.rollup import due_days, refresh_day
from dispatch.supervision.alerts import raise_deadline_alerts
from dispatch.supervision.extensions import lapse_overdue_requests
from dispatch.supervision.rules import issue_rule_notices
from dispatch.transaction import transaction

log = logging.getLogger(__name__)
# The sweeper leaves fresh events to the normal hand-off for this long.
SWEEP_GRACE = timedelta(seconds=5)
# Each completed round touches this file, local to the host (a container's own /tmp, never the
# shared data volume); `sipingtai health --process scheduler` calls a beat this old stale.
BEAT_FILE = Path(tempfile.gettempdir()) / "sipingtai-scheduler.beat"
SCHEDULER_STALE_S = 60.0
# The deadline scans write in transactions of at most this many parts (warnings, lapses) or
# notices: a backlog (after an outage, a holiday) is written over several, each published
# with its cards, so none holds its locks or builds its cards for long.
BATCH = 1000


def _in_batches(write: Callable[[], int]) -> int:
    """Run write (one transaction) until it writes less than a batch; return the total."""
    total = 0
    while True:
        written = write()
        total += written
        if written < BATCH:
            return total


def sweep(engine: Engine, connection: redis.Redis, *, limit: int = 5000) -> int:
    """Offer again every committed event still waiting for routing; return how many."""
    with session_scope(engine) as session:
        ids = waiting_for_routing(session, older_than=utcnow() - SWEEP_GRACE, limit=limit)
    if ids:
        offer_for_routing(connection, ids, force=True)
        log.info("sweeper re-offered %d waiting events", len(ids))
    return len(ids)


def alert_deadlines(engine: Engine, connection: redis.Redis | None) -> int:
    """Raise the deadline warnings now due, publishing them to the boards; return how many."""

    def write() -> int:
        with transaction(engine, connection) as session:
            without_jit(session)
            return len(raise_deadline_alerts(session, limit=BATCH))

    raised = _in_batches(write)
    if raised:
        log.info("raised %d deadline warnings", raised)
    return raised


def lapse_extensions(
    engine: Engine, connection: redis.Redis | None, *, now: datetime | None = None
) -> int:
    """Lapse the extension requests left undecided past their part's deadline; return how many."""

    def write() -> int:
        with transaction(engine, connection) as session:
            without_jit(session)
            return len(lapse_overdue_requests(session, now=now, limit=BATCH))

    lapsed = _in_batches(write)
    if lapsed:
        log.info("lapsed %d undecided extension requests", lapsed)
    return lapsed


def supervise_by_rules(engine: Engine, connection: redis.Redis | None) -> int:
    """Issue the notices the county rules now call for, publishing them; return how many.

    Each round of the scheduler calls it after the deadline warnings, in transactions of
    its own.
    """

    def write() -> int:
        with transaction(engine, connection) as session:
            without_jit(session)
            return len(issue_rule_notices(session, limit=BATCH))

    issued = _in_batches(write)
    if issued:
        log.info("issued %d supervision notices by the county rules", issued)
    return issued


def store_report_days(engine: Engine) -> int:
    """Store the assessment facts of the settled days changed or never stored; return how many.

    Each day in a transaction of its own (SQLite's writers wait for none longer than a day's
    build); a round stores at most a month of days, so a year written at once (an import, a
    demo history) is stored over a dozen rounds while the reports build the rest live.
    """
    with session_scope(engine) as session:
        days = due_days(session)
    stored = 0
    for day in days:
        with session_scope(engine) as session:
            stored += refresh_day(session, day)
    if stored:
        log.info("stored the assessment facts of %d days", stored)
    return stored


def beat(path: Path = BEAT_FILE) -> None:
    """Record that a round of the scheduler completed."""
    path.touch()


def beat_age(path: Path = BEAT_FILE) -> float | None:
    """Return the seconds since the scheduler last completed a round here; None if never."""
    try:
        return max(time.time() - path.stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None
