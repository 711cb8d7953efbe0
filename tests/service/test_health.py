"""GET /api/health: the database decides 200 or 503; Redis and the queues say ok or degraded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from rq import Queue

from dispatch.core.queues import DELIVERY_QUEUE
from dispatch.core.redis import connect
from dispatch.core.settings import Settings
from dispatch.delivery.webhooks import enqueue_deliveries
from service.app import create_app
from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop, RedisServer


def health(client: TestClient, status_code: int = 200) -> dict[str, Any]:
    """Ask for health and expect the status code."""
    response = client.get("/api/health")
    assert response.status_code == status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_is_ok_with_the_database_and_redis(loop: Loop) -> None:
    body = health(loop.client)
    assert body["status"] == "ok"
    assert (body["database"], body["redis"]) == ("ok", "ok")
    assert body["queues"] == {"routing": 0, "delivery": 0}
    assert body["failed_jobs"] == 0
    assert isinstance(body["pending_routing"], int)


def test_queue_depths_pending_events_and_failed_jobs_are_counted(loop: Loop) -> None:
    before = health(loop.client)["pending_routing"]
    lon, lat = demo_grid_point("320999004", nth=2)
    report = {
        "client_id": str(uuid4()),
        "reported_at": "2026-11-20T09:30:00+08:00",
        "lon": lon,
        "lat": lat,
        "description": "新市街菜场门口有流动摊贩占道卖菜",
        "matter_code": "C-004",
    }
    created = loop.client.post("/api/events", json=report, headers=loop.token("grid"))
    assert created.status_code == 201, created.text
    connection = connect(loop.redis_url)
    assert enqueue_deliveries(connection, [987654]) == 1

    waiting = health(loop.client)
    assert waiting["pending_routing"] == before + 1
    assert waiting["queues"] == {"routing": 1, "delivery": 1}

    Queue(DELIVERY_QUEUE, connection=connection).enqueue_call(
        "dispatch.jobs.no_such_job", job_id="broken"
    )
    loop.run_worker()
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


def test_health_is_degraded_but_200_while_redis_is_down(
    redis_server: RedisServer, loop_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=loop_database_url, REDIS_URL=redis_server.url, data_dir=tmp_path
    )
    with TestClient(create_app(settings)) as client:
        assert health(client)["status"] == "ok"

        redis_server.stop()
        down = health(client)
        assert (down["status"], down["database"]) == ("degraded", "ok")
        assert down["redis"].startswith("unavailable: ")
        assert str(redis_server.port) in down["redis"], "the reason names the server"
        assert down["queues"] == {"routing": None, "delivery": None}
        assert down["failed_jobs"] is None
        assert isinstance(down["pending_routing"], int)

        redis_server.start()
        assert health(client)["status"] == "ok"


def test_health_without_redis_says_not_configured(loop_database_url: str, tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=loop_database_url, REDIS_URL=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        body = health(client)
    assert (body["status"], body["database"], body["redis"]) == (
        "degraded",
        "ok",
        "not configured",
    )


def test_health_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    # A directory is no SQLite database: every connection attempt fails.
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path}", REDIS_URL=None, data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        body = health(client, 503)
    assert body["status"] == "degraded"
    assert body["database"].startswith("unavailable: ") and "unable to open" in body["database"]
    assert body["pending_routing"] is None
