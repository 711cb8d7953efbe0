"""GET /api/health: ok (200), or degraded (503) naming why: the database, Redis, no live worker,
routing stalled."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from rq import Queue, Worker

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.queues import DELIVERY_QUEUE, QUEUES
from dispatch.core.redis import connect
from dispatch.core.settings import Settings
from dispatch.delivery.webhooks import enqueue_deliveries
from dispatch.events.models import Event
from service.app import create_app
from tests.helpers import running_worker as start_worker
from tests.loop_fixtures import Loop, RedisServer
from tests.service.test_loop import report_body


def health(client: TestClient, status_code: int = 200) -> dict[str, Any]:
    """Ask for health and expect the status code."""
    response = client.get("/api/health")
    assert response.status_code == status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def registered_worker(connection: redis.Redis, beat_seconds_ago: float = 0) -> Worker:
    """Register an RQ worker in Redis as a worker does at birth, its last beat that long ago."""
    worker = Worker([Queue(q, connection=connection) for q in QUEUES], connection=connection)
    worker.register_birth()
    beat = utcnow() - timedelta(seconds=beat_seconds_ago)
    connection.hset(worker.key, "last_heartbeat", beat.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return worker


@pytest.fixture
def running_worker(loop: Loop) -> Iterator[subprocess.Popen[bytes]]:
    """Run `sipingtai worker` against the loop's database and Redis until it has registered."""
    with start_worker(loop.redis_url) as worker:
        yield worker


def report(loop: Loop) -> int:
    """Report one event through the API; return its id."""
    created = loop.client.post("/api/events", json=report_body(), headers=loop.token("grid"))
    assert created.status_code == 201, created.text
    event_id: int = created.json()["id"]
    return event_id


def received_ago(loop: Loop, event_id: int, seconds: float) -> None:
    """Make an event look received that long ago."""
    with session_scope(loop.engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.received_at = utcnow() - timedelta(seconds=seconds)
        session.add(event)


def test_health_is_ok_with_the_database_redis_and_a_running_worker(
    loop: Loop, running_worker: subprocess.Popen[bytes]
) -> None:
    body = health(loop.client)
    assert (body["status"], body["reasons"]) == ("ok", [])
    assert (body["database"], body["redis"], body["workers"]) == ("ok", "ok", 1)
    assert body["queues"] == {"routing": 0, "delivery": 0}
    assert body["failed_jobs"] == 0
    assert isinstance(body["pending_routing"], int)


def test_health_is_degraded_503_when_no_worker_runs(loop: Loop) -> None:
    body = health(loop.client, 503)
    assert (body["status"], body["reasons"], body["workers"]) == ("degraded", ["no_worker"], 0)


def test_a_worker_whose_heartbeat_is_stale_does_not_count(loop: Loop) -> None:
    connection = connect(loop.redis_url)
    # Killed with -9: still registered, its last beat 20 s ago (beats come every 5 s).
    registered_worker(connection, beat_seconds_ago=20)
    assert len(Worker.all(connection=connection)) == 1
    assert health(loop.client, 503)["reasons"] == ["no_worker"]
    registered_worker(connection, beat_seconds_ago=1)
    assert health(loop.client)["workers"] == 1


def test_an_event_unrouted_for_over_30_s_degrades_health(loop: Loop) -> None:
    registered_worker(connect(loop.redis_url))
    event_id = report(loop)
    received_ago(loop, event_id, 25)
    fresh = health(loop.client)
    assert fresh["status"] == "ok" and 25 <= fresh["oldest_unrouted_s"] < 30
    received_ago(loop, event_id, 31)
    stale = health(loop.client, 503)
    assert (stale["status"], stale["reasons"]) == ("degraded", ["routing_backlog"])
    assert stale["oldest_unrouted_s"] >= 31
    loop.run_worker()
    registered_worker(connect(loop.redis_url))
    routed = health(loop.client)
    assert (routed["status"], routed["oldest_unrouted_s"]) == ("ok", None)


def test_queue_depths_pending_events_and_failed_jobs_are_counted(loop: Loop) -> None:
    connection = connect(loop.redis_url)
    registered_worker(connection)
    before = health(loop.client)["pending_routing"]
    report(loop)
    assert enqueue_deliveries(connection, [987654]) == 1

    waiting = health(loop.client)
    assert waiting["pending_routing"] == before + 1
    assert waiting["queues"] == {"routing": 1, "delivery": 1}

    Queue(DELIVERY_QUEUE, connection=connection).enqueue_call(
        "dispatch.jobs.no_such_job", job_id="broken"
    )
    loop.run_worker()
    registered_worker(connection)
    after = health(loop.client)
    assert after["pending_routing"] == before
    assert after["queues"] == {"routing": 0, "delivery": 0}
    assert after["failed_jobs"] == 1
    assert after["status"] == "ok", "a failed job is reported, not a reason to degrade"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Run a redis-server of the test's own that it may stop and start."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_health_is_degraded_503_while_redis_is_down(
    redis_server: RedisServer, loop_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=loop_database_url, REDIS_URL=redis_server.url, data_dir=tmp_path
    )
    with TestClient(create_app(settings)) as client:
        registered_worker(connect(redis_server.url))
        assert health(client)["status"] == "ok"

        redis_server.stop()
        down = health(client, 503)
        assert (down["status"], down["database"]) == ("degraded", "ok")
        assert down["reasons"] == ["redis_unavailable"]
        assert down["redis"].startswith("unavailable: ")
        assert str(redis_server.port) in down["redis"], "the reason names the server"
        assert down["queues"] == {"routing": None, "delivery": None}
        assert down["failed_jobs"] is None
        assert isinstance(down["pending_routing"], int)

        redis_server.start()  # back, and empty: no worker has registered with it yet
        assert health(client, 503)["reasons"] == ["no_worker"]
        registered_worker(connect(redis_server.url))
        assert health(client)["status"] == "ok"


def test_health_without_redis_says_not_configured(loop_database_url: str, tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=loop_database_url, REDIS_URL=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        body = health(client, 503)
    assert (body["status"], body["database"], body["redis"]) == (
        "degraded",
        "ok",
        "not configured",
    )
    assert body["reasons"] == ["redis_not_configured"]


def test_health_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    # A directory is no SQLite database: every connection attempt fails.
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path}", REDIS_URL=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        body = health(client, 503)
    assert body["status"] == "degraded"
    assert body["reasons"] == ["database_unavailable", "redis_not_configured"]
    assert body["database"].startswith("unavailable: ") and "unable to open" in body["database"]
    assert body["pending_routing"] is None
