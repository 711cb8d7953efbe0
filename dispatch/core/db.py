"""Engines, sessions and migrations, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Dialect,
    Engine,
    Integer,
    String,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlmodel import Session

from dispatch.core.files import private_file

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# A request holds one connection for its whole life; the API caps its worker threads below
# POOL_SIZE + POOL_OVERFLOW so a burst of requests can never starve itself of connections.
POOL_SIZE = 20
POOL_OVERFLOW = 20

# Ids and the foreign keys that name them are 64-bit: BIGINT on PostgreSQL. SQLite stays
# INTEGER, which is already 64-bit and is what makes a primary key its autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            # Created 0600 before SQLite opens it; its -wal and -shm files take the same mode.
            # A path SQLite cannot open either (a directory, no permission) fails at connect.
            with contextlib.suppress(OSError):
                private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINT, so we emit BEGIN ourselves;
        # IMMEDIATE takes the write lock up front, so concurrent writers wait (busy_timeout)
        # instead of failing with "database is locked" when a read turns into a write.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
    }
    if "poolclass" in kwargs:
        options = {"pool_pre_ping": True}
    return create_engine(url, **{**options, **kwargs})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error.

    Objects stay readable after the commit (expire_on_commit=False), so a caller may
    report on what it wrote once the transaction is over.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def without_jit(session: Session) -> None:
    """Turn PostgreSQL's JIT off for the rest of the session's transaction.

    For short index scans whose cost the planner can overestimate (stale statistics after
    a large batch): compiling them takes tens of milliseconds, running them one or two.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def cancel_running_statement(session: Session) -> None:
    """Cancel a statement the session's connection still runs, and throw the connection away.

    A job's timeout (RQ's death penalty, SIGALRM) can interrupt psycopg while it waits for a
    statement's answer. psycopg cancels the statement on KeyboardInterrupt only; after any
    other exception the server would go on running it, holding its row locks, and the
    connection could not roll back. A no-op on SQLite and when nothing is running.
    """
    if not session.in_transaction():
        return
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    info = getattr(raw, "info", None)
    cancel = getattr(raw, "cancel_safe", None)
    if info is None or cancel is None:
        return
    from psycopg.pq import TransactionStatus

    if info.transaction_status != TransactionStatus.ACTIVE:
        return
    with contextlib.suppress(Exception):  # the server may be gone too: the socket goes anyway
        cancel(timeout=5)
    connection.invalidate()


def alembic_config(url: str) -> Config:
    """Build an Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at url up to the newest migration."""
    command.upgrade(alembic_config(url), "head")


class StrEnumType(TypeDecorator[StrEnum]):
    """A VARCHAR column that reads and writes one StrEnum: a stray string cannot be stored.

    The column stays a plain VARCHAR (no native enum type to migrate when a member is
    added); rows read back as members, so the code compares and types them as such.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: object, dialect: Dialect) -> str | None:
        """Write the member's value, refusing anything that is not one (ValueError)."""
        return None if value is None else self.enum(str(value)).value

    def process_result_value(self, value: object, dialect: Dialect) -> StrEnum | None:
        """Read the value back as its member."""
        return None if value is None else self.enum(str(value))
