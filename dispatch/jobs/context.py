"""What a worker process builds once: the engine, the router and the calendar."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine

from dispatch.core.clock import utcnow
from dispatch.core.db import make_engine, session_scope
from dispatch.core.settings import Settings, get_settings
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.reference.jurisdictions import county_codes
from dispatch.routing.router import Router


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
            # Build the classifier of each county's list in force now: forked jobs inherit them.
            for county_code in county_codes(session):
                router.rules_for(session, county_code, utcnow())
        _context = WorkerContext(settings, engine, router, calendar, os.getpid())
    return _context


def reset_worker_context() -> None:
    """Forget the built context (after reference data changed, and between tests)."""
    global _context
    if _context is not None:
        _context.engine.dispose()
    _context = None
