"""What a load balancer and an operator need to know: is anything keeping events from routing.

Degraded (and GET /api/health answers 503) when the database or Redis does not answer, when no
worker's heartbeat is fresh, or when the oldest event waiting for routing is older than
`BACKLOG_LIMIT`; each cause is named in `reasons`, with its Chinese label in `REASON_LABELS`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import redis
from rq import Queue, Worker
from rq.worker import BaseWorker
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel, col, func, select

from dispatch.core.clock import as_utc, utcnow
from dispatch.core.queues import HEARTBEAT_STALE_S, QUEUES
from dispatch.events.models import Event, EventStatus

OK = "ok"
NOT_CONFIGURED = "not configured"
MAX_REASON_CHARS = 300
# A reported event is routed within a second or two; one waiting this long means routing stalls.
BACKLOG_LIMIT = timedelta(seconds=30)


class Reason(StrEnum):
    """Why the service is degraded."""

    DATABASE_UNAVAILABLE = "database_unavailable"
    REDIS_UNAVAILABLE = "redis_unavailable"
    REDIS_NOT_CONFIGURED = "redis_not_configured"
    NO_WORKER = "no_worker"
    ROUTING_BACKLOG = "routing_backlog"


REASON_LABELS = {
    Reason.DATABASE_UNAVAILABLE: "数据库无法连接",
    Reason.REDIS_UNAVAILABLE: "消息队列（Redis）无法连接",
    Reason.REDIS_NOT_CONFIGURED: "未配置消息队列（Redis），事件不会自动分拨",
    Reason.NO_WORKER: "分拨进程未在运行",
    Reason.ROUTING_BACKLOG: "有事件超过 30 秒未分拨",
}


@dataclass(frozen=True, slots=True)
class Health:
    """The state of the database, Redis, the workers and routing; None where not measured."""

    database: str
    redis: str
    queues: dict[str, int | None] = field(default_factory=dict)
    pending_routing: int | None = None
    failed_jobs: int | None = None
    workers: int | None = None
    oldest_unrouted_s: float | None = None

    @property
    def database_ok(self) -> bool:
        """Tell whether the database answered."""
        return self.database == OK

    @property
    def reasons(self) -> list[Reason]:
        """Return every cause of degradation, empty when all is well."""
        found = []
        if not self.database_ok:
            found.append(Reason.DATABASE_UNAVAILABLE)
        if self.redis == NOT_CONFIGURED:
            found.append(Reason.REDIS_NOT_CONFIGURED)
        elif self.redis != OK:
            found.append(Reason.REDIS_UNAVAILABLE)
        elif not self.workers:
            found.append(Reason.NO_WORKER)
        if (
            self.oldest_unrouted_s is not None
            and self.oldest_unrouted_s > BACKLOG_LIMIT.total_seconds()
        ):
            found.append(Reason.ROUTING_BACKLOG)
        return found

    @property
    def status(self) -> Literal["ok", "degraded"]:
        """Return ok when nothing keeps events from routing, degraded otherwise."""
        return "degraded" if self.reasons else "ok"

    def to_public(self) -> HealthPublic:
        """Return the body of GET /api/health."""
        return HealthPublic(
            status=self.status,
            reasons=self.reasons,
            database=self.database,
            redis=self.redis,
            queues=self.queues,
            pending_routing=self.pending_routing,
            oldest_unrouted_s=self.oldest_unrouted_s,
            workers=self.workers,
            failed_jobs=self.failed_jobs,
        )


class HealthPublic(SQLModel):
    """GET /api/health: ok, or degraded (HTTP 503) with the reasons; None where not measured."""

    status: Literal["ok", "degraded"]
    reasons: list[Reason] = Field(description="why degraded; empty when ok")
    database: str = Field(description="ok, or unavailable: <reason>")
    redis: str = Field(description="ok, not configured, or unavailable: <reason>")
    queues: dict[str, int | None] = Field(description="jobs waiting per queue")
    pending_routing: int | None = Field(description="events reported and not yet routed")
    oldest_unrouted_s: float | None = Field(
        description="age in seconds of the oldest event waiting for routing; null when none"
    )
    workers: int | None = Field(description="RQ workers with a fresh heartbeat")
    failed_jobs: int | None


def check_health(
    engine: Engine, connection: redis.Redis | None, *, now: datetime | None = None
) -> Health:
    """Ask the database and Redis; never raise for either being away."""
    now = now or utcnow()
    database, pending, oldest = _database(engine, now)
    status, queues, failed, workers = _redis(connection, now)
    return Health(database, status, queues, pending, failed, workers, oldest)


def fresh_workers(connection: redis.Redis, now: datetime | None = None) -> list[BaseWorker]:
    """Return the registered RQ workers whose last heartbeat is recent."""
    now = now or utcnow()
    stale = timedelta(seconds=HEARTBEAT_STALE_S)
    return [
        w
        for w in Worker.all(connection=connection)
        if w.last_heartbeat is not None and now - as_utc(w.last_heartbeat) <= stale
    ]


def fresh_workers_here(connection: redis.Redis, hostname: str | None = None) -> int:
    """Return how many workers of this host (a container's own name) have a fresh heartbeat."""
    host = hostname or socket.gethostname()
    return sum(1 for w in fresh_workers(connection) if w.hostname == host)


def _database(engine: Engine, now: datetime) -> tuple[str, int | None, float | None]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            waiting = connection.execute(
                select(func.count(col(Event.id))).where(Event.status == EventStatus.REPORTED)
            ).scalar_one()
            oldest = connection.execute(
                select(Event.received_at)
                .where(Event.status == EventStatus.REPORTED)
                .order_by(col(Event.received_at))
                .limit(1)
            ).scalar_one_or_none()
    except SQLAlchemyError as exc:
        return f"unavailable: {_reason(getattr(exc, 'orig', None) or exc)}", None, None
    age = None if oldest is None else max((now - as_utc(oldest)).total_seconds(), 0.0)
    return OK, int(waiting), age


def _redis(
    connection: redis.Redis | None, now: datetime
) -> tuple[str, dict[str, int | None], int | None, int | None]:
    unknown: dict[str, int | None] = dict.fromkeys(QUEUES)
    if connection is None:
        return NOT_CONFIGURED, unknown, None, None
    try:
        connection.ping()
        queues = [Queue(name, connection=connection) for name in QUEUES]
        depths: dict[str, int | None] = {q.name: q.count for q in queues}
        failed = sum(q.failed_job_registry.count for q in queues)
        workers = len(fresh_workers(connection, now))
    except redis.RedisError as exc:
        return f"unavailable: {_reason(exc)}", unknown, None, None
    return OK, depths, failed, workers


def _reason(exc: BaseException) -> str:
    """Return the first line of an error, short enough for a health answer."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:MAX_REASON_CHARS]
