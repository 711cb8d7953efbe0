"""Create and drop the benches' scratch PostgreSQL databases, load the demo, empty Redis.

PostgreSQL is the one at 127.0.0.1:5432 (user postgres, trust auth). Redis databases 0
(everybody's default) and 15 (the test suite's) are never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from bench.harness.processes import HOST, say

PG_PORT = 5432
REFUSED_REDIS_DBS = (0, 15)


def dsn(database: str) -> str:
    """Return the psycopg connection string of a local database."""
    return f"host={HOST} port={PG_PORT} user=postgres dbname={database} connect_timeout=3"


def database_url(database: str) -> str:
    """Return the SQLAlchemy URL of a local database, as the service takes it."""
    return f"postgresql+psycopg://postgres@{HOST}:{PG_PORT}/{database}"


def create_database(name: str) -> None:
    """Create a scratch database, dropping a leftover one first."""
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    """Drop a scratch database, disconnecting whoever is still on it."""
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """Create a fresh database for the body, yield its URL, and drop it at the end."""
    create_database(name)
    try:
        yield database_url(name)
    finally:
        try:
            drop_database(name)
        except Exception as exc:
            say(f"could not drop the database {name}: {exc!r}")


def load_demo_database(url: str) -> None:
    """Migrate the database at url and load the demo county and the demo users."""
    from dispatch.core.db import make_engine, migrate, session_scope
    from dispatch.demo.seed import load_demo
    from dispatch.users.service import ensure_demo_users

    migrate(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            load_demo(session)
            ensure_demo_users(session)
    finally:
        engine.dispose()


def redis_url(db: int, port: int = 6379) -> str:
    """Return the URL of a local Redis database the benches may flush."""
    if db in REFUSED_REDIS_DBS:
        raise ValueError(f"Redis database {db} is not the bench's to use (0 and 15 are taken)")
    return f"redis://{HOST}:{port}/{db}"


def flush_redis(url: str) -> None:
    """Empty the bench's own Redis database (never another one)."""
    from dispatch.core.redis import connect

    connection = connect(url)
    try:
        connection.flushdb()
    finally:
        connection.close()


@contextmanager
def flushed_redis(url: str) -> Iterator[None]:
    """Empty the bench's Redis database before and after the body."""
    flush_redis(url)
    try:
        yield
    finally:
        with suppress(Exception):
            flush_redis(url)
