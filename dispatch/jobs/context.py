"""What a worker process builds once: the engine, and the router and calendar kept current."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine

from dispatch.core.db import make_engine, session_scope
from dispatch.core.settings import Settings, get_settings
from dispatch.routing.cache import Built, ReferenceCache


@dataclass
class WorkerContext:
    """The engine and the reference cache of one worker process."""

    settings: Settings
    engine: Engine
    reference: ReferenceCache
    pid: int

    def built(self) -> Built:
        """Return the router and calendar, rebuilt first if reference data changed."""
        with session_scope(self.engine) as session:
            return self.reference.get(session)


_context: WorkerContext | None = None


def worker_context() -> WorkerContext:
    """Return this process's context, building the index and calendar on first use.

    The worker builds it once and runs every job in itself, refreshing it before each job
    (`refresh_before_job`). A process forked from one that built it (a test's RQ horse)
    must not share the parent's database connections: it gets a fresh pool.
    """
    global _context
    if _context is not None and _context.pid != os.getpid():
        _context.engine.dispose(close=False)
        _context.pid = os.getpid()
    if _context is None:
        settings = get_settings()
        engine = make_engine(settings.effective_database_url)
        reference = ReferenceCache(
            near_distance_m=settings.near_boundary_m, threshold=settings.classify_threshold
        )
        _context = WorkerContext(settings, engine, reference, os.getpid())
        _context.built()
    return _context


def refresh_before_job() -> None:
    """Rebuild what reference data changed, before the worker runs its next job."""
    worker_context().built()


def reset_worker_context() -> None:
    """Forget the built context (between tests)."""
    global _context
    if _context is not None:
        _context.engine.dispose()
    _context = None
