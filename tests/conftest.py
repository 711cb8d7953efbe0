"""Shared fixtures: a migrated database (PostgreSQL or SQLite) with a rolled-back session per test.

Set SIPINGTAI_TEST_DATABASE_URL to a PostgreSQL URL to run against PostgreSQL: a fresh database
is created beside the one named and dropped afterwards. Without it the run uses a SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from dispatch.core.db import make_engine, migrate
from dispatch.core.settings import normalise_database_url
from dispatch.routing.router import Router

pytest_plugins = ["tests.loop_fixtures"]

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
# The real boundaries of Jiangsu's 95 counties and districts (tests/data/README.md).
JIANGSU = TEST_DATA / "jiangsu_counties.geojson"


def _test_database_url() -> str | None:
    url = os.environ.get("SIPINGTAI_TEST_DATABASE_URL", "").strip()
    return normalise_database_url(url) if url else None


def pytest_report_header() -> str:
    """Say which database this run talks to."""
    url = _test_database_url()
    return f"sipingtai database: {make_url(url).render_as_string() if url else 'SQLite file'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the pages' tests `browser`; skip PostgreSQL-only tests on the SQLite run, saying why."""
    e2e = REPO / "tests" / "e2e"
    for item in items:
        if e2e in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
    if _test_database_url():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set SIPINGTAI_TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@contextmanager
def fresh_database(tmp_dir: Path, label: str) -> Iterator[str]:
    """Create an empty database (SQLite file, or a new PostgreSQL database) and drop it after."""
    base = _test_database_url()
    if base is None:
        yield f"sqlite:///{tmp_dir / f'{label}.db'}"
        return
    admin_url = make_url(base)
    name = f"sipingtai_{label}_{os.getpid()}"
    admin_dsn = admin_url.render_as_string(hide_password=False)
    admin = make_engine(admin_dsn, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a migrated database for this test session and drop it at the end."""
    with fresh_database(tmp_path_factory.mktemp("db"), "test") as url:
        migrate(url)
        yield url


@contextmanager
def demo_database(tmp_dir: Path, label: str, *, with_users: bool = False) -> Iterator[str]:
    """Create a committed database holding the demo county (and its users), dropped after."""
    from dispatch.core.db import session_scope
    from dispatch.demo.seed import load_demo
    from dispatch.users.service import ensure_demo_users

    with fresh_database(tmp_dir, label) as url:
        migrate(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            load_demo(session)
            if with_users:
                ensure_demo_users(session)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def demo_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a database holding the demo county, committed, shared by read-only tests."""
    with demo_database(tmp_path_factory.mktemp("demo"), "demo") as url:
        yield url


@pytest.fixture(scope="session")
def two_county_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a committed database holding two counties side by side, with their users."""
    from dispatch.core.db import session_scope
    from tests.two_counties import load_two_counties

    with fresh_database(tmp_path_factory.mktemp("two"), "two") as url:
        migrate(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            load_two_counties(session, with_users=True)
        engine.dispose()
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """Create an empty, unmigrated database for one test (for commands that commit)."""
    with fresh_database(tmp_path, "empty") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Return one engine for the whole session."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Yield a session inside a transaction that is rolled back after the test.

    Code under test may commit: its commits become savepoints of the outer transaction.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


@pytest.fixture
def demo_session(demo_database_url: str) -> Iterator[Session]:
    """Yield a session on the demo county whose writes are rolled back after the test."""
    with rolled_back_session(demo_database_url) as session:
        yield session


@contextmanager
def rolled_back_session(url: str) -> Iterator[Session]:
    """Yield a session on a committed database whose writes are all rolled back at the end."""
    engine = make_engine(url)
    with engine.connect() as connection:
        outer = connection.begin()
        with Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session
        outer.rollback()
    engine.dispose()


@pytest.fixture(scope="session")
def demo_router(demo_database_url: str) -> Router:
    """Return a router built once over the demo county."""
    from dispatch.core.db import session_scope

    engine = make_engine(demo_database_url)
    with session_scope(engine) as session:
        router = Router.load(session, near_distance_m=50.0, threshold=0.5)
    engine.dispose()
    return router


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return the Redis this run uses.

    The PostgreSQL run uses the machine's Redis (database 15, never the default 0); the
    SQLite run starts the embedded redis-server of `sipingtai up`, once.
    """
    from dispatch.core.redis import start_embedded_redis

    if _test_database_url():
        yield os.environ.get("SIPINGTAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        return
    embedded = start_embedded_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield embedded.url
    finally:
        embedded.close()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """Return the Redis URL, its database flushed before and after the test."""
    from dispatch.core.redis import connect

    client = connect(redis_server_url)
    client.flushdb()
    yield redis_server_url
    client.flushdb()
    client.close()
