"""What a load balancer and an operator need to know: does the database answer, is Redis up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import redis
from rq import Queue
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel, col, func, select

from dispatch.core.queues import QUEUES
from dispatch.events.models import Event, EventStatus

OK = "ok"
NOT_CONFIGURED = "not configured"
MAX_REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class Health:
    """The state of the database and of Redis; None where it could not be measured."""

    database: str
    redis: str
    queues: dict[str, int | None] = field(default_factory=dict)
    pending_routing: int | None = None
    failed_jobs: int | None = None

    @property
    def database_ok(self) -> bool:
        """Tell whether the database answered."""
        return self.database == OK

    @property
    def status(self) -> Literal["ok", "degraded"]:
        """Return ok when everything answers, degraded otherwise (routing needs Redis)."""
        return "ok" if self.database_ok and self.redis == OK else "degraded"

    def to_public(self) -> HealthPublic:
        """Return the body of GET /api/health."""
        return HealthPublic(
            status=self.status,
            database=self.database,
            redis=self.redis,
            queues=self.queues,
            pending_routing=self.pending_routing,
            failed_jobs=self.failed_jobs,
        )


class HealthPublic(SQLModel):
    """GET /api/health: ok, or degraded while Redis is away; None where not measured."""

    status: Literal["ok", "degraded"]
    database: str = Field(description="ok, or unavailable: <reason>")
    redis: str = Field(description="ok, not configured, or unavailable: <reason>")
    queues: dict[str, int | None] = Field(description="jobs waiting per queue")
    pending_routing: int | None = Field(description="events reported and not yet routed")
    failed_jobs: int | None


def check_health(engine: Engine, connection: redis.Redis | None) -> Health:
    """Ask the database and Redis; never raise for either being away."""
    database, pending = _database(engine)
    status, queues, failed = _redis(connection)
    return Health(database, status, queues, pending, failed)


def _database(engine: Engine) -> tuple[str, int | None]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            waiting = connection.execute(
                select(func.count(col(Event.id))).where(Event.status == EventStatus.REPORTED)
            ).scalar_one()
    except SQLAlchemyError as exc:
        return f"unavailable: {_reason(getattr(exc, 'orig', None) or exc)}", None
    return OK, int(waiting)


def _redis(connection: redis.Redis | None) -> tuple[str, dict[str, int | None], int | None]:
    unknown: dict[str, int | None] = dict.fromkeys(QUEUES)
    if connection is None:
        return NOT_CONFIGURED, unknown, None
    try:
        connection.ping()
        queues = [Queue(name, connection=connection) for name in QUEUES]
        depths: dict[str, int | None] = {q.name: q.count for q in queues}
        failed = sum(q.failed_job_registry.count for q in queues)
    except redis.RedisError as exc:
        return f"unavailable: {_reason(exc)}", unknown, None
    return OK, depths, failed


def _reason(exc: BaseException) -> str:
    """Return the first line of an error, short enough for a health answer."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:MAX_REASON_CHARS]
