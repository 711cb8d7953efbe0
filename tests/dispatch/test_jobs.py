"""The routing job with real RQ workers, real Redis and a committed database; and its faults."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from rq import Queue, Worker
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.queues import PENDING_KEY, offer_for_routing
from dispatch.core.redis import connect
from dispatch.events.models import Assignment, Event, EventStatus
from dispatch.events.service import report_event
from dispatch.jobs.scheduler import sweep
from dispatch.routing.router import Router
from tests.conftest import REPO
from tests.helpers import new_report, stream_entries
from tests.loop_fixtures import run_burst_worker


@pytest.fixture
def env(worker_env: tuple[Engine, str]) -> tuple[Engine, str]:
    """The loop database and Redis, seen by this process and its workers."""
    return worker_env


_routers: dict[str, Router] = {}


def commit_report(engine: Engine, township_code: str = "320999004") -> int:
    """Report one event and commit it, as the API would; return its id."""
    with session_scope(engine) as session:
        key = str(engine.url)
        if key not in _routers:
            _routers[key] = Router.load(session, near_distance_m=50, threshold=0.5)
        router = _routers[key]
        event = report_event(session, router, new_report(township_code)).event
        assert event.id is not None
        return event.id


def assignments_of(engine: Engine, event_id: int) -> list[tuple[int, str]]:
    """Return (department, role) of every assignment of an event."""
    with Session(engine) as session:
        return sorted(
            (a.department_id, a.role)
            for a in session.exec(select(Assignment).where(Assignment.event_id == event_id))
        )


def status_of(engine: Engine, event_id: int) -> str:
    """Return an event's status."""
    with Session(engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event.status


def test_a_burst_worker_routes_offered_events(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    ids = [commit_report(engine), commit_report(engine, township_code="320999005")]
    offer_for_routing(connect(redis_url), ids)
    run_burst_worker(redis_url)
    for event_id in ids:
        assert status_of(engine, event_id) == EventStatus.DISPATCHED
        roles = [role for _, role in assignments_of(engine, event_id)]
        assert roles.count("lead") == 1 and roles.count("territorial") == 1
    assert connect(redis_url).scard(PENDING_KEY) == 0


def test_many_events_are_routed_by_few_jobs(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    connection = connect(redis_url)
    ids = [commit_report(engine) for _ in range(30)]
    for event_id in ids:
        offer_for_routing(connection, [event_id])
    queued = Queue("routing", connection=connection).count
    assert queued == 1  # one drain job for thirty events, not thirty jobs
    run_burst_worker(redis_url)
    assert {status_of(engine, i) for i in ids} == {EventStatus.DISPATCHED}


def test_an_event_lost_from_redis_is_swept_and_routed_once(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    event_id = commit_report(engine)
    _age(engine, event_id)
    # Never offered, as when Redis was down at intake: the sweeper finds it in the database.
    assert sweep(engine, connect(redis_url)) >= 1
    run_burst_worker(redis_url)
    assert status_of(engine, event_id) == EventStatus.DISPATCHED
    first = assignments_of(engine, event_id)
    # Offered again (a duplicate hand-off): nothing is doubled.
    offer_for_routing(connect(redis_url), [event_id])
    run_burst_worker(redis_url)
    assert assignments_of(engine, event_id) == first


def test_a_worker_killed_mid_job_loses_nothing_and_doubles_nothing(
    env: tuple[Engine, str], loop_database_url: str
) -> None:
    engine, redis_url = env
    event_id = commit_report(engine)
    _age(engine, event_id)
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        cwd=REPO,
        env={**os.environ},
        start_new_session=True,
    )
    try:
        # The worker loads the index before it listens; wait until it is listening.
        _wait_until(lambda: len(Worker.all(connection=connect(redis_url))) >= 1, "worker")
        # Hold a write lock so the worker's routing transaction blocks half-way through.
        with _write_lock(engine):
            offer_for_routing(connect(redis_url), [event_id])
            routing = Queue("routing", connection=connect(redis_url))
            _wait_until(lambda: routing.started_job_registry.count >= 1, "job to start")
            time.sleep(0.5)
            _kill_tree(worker)
            worker.wait(timeout=10)
        assert status_of(engine, event_id) == EventStatus.REPORTED  # rolled back with the kill
    finally:
        if worker.poll() is None:
            _kill_tree(worker)
    assert sweep(engine, connect(redis_url)) >= 1
    run_burst_worker(redis_url)
    assert status_of(engine, event_id) == EventStatus.DISPATCHED
    pairs = assignments_of(engine, event_id)
    assert len(pairs) == len(set(pairs)) and ("lead" in {r for _, r in pairs})


def _kill_tree(worker: subprocess.Popen[bytes]) -> None:
    """Kill the worker and its job horse at once, as a machine that dies would.

    RQ puts each horse in a process group of its own, so killing the worker's group alone
    would leave the horse running: it would finish the job, and then drain ids that later
    tests offer.
    """
    import psutil

    processes = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=10)


def _age(engine: Engine, event_id: int) -> None:
    """Make an event look received a minute ago, past the sweeper's grace period."""
    with session_scope(engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.received_at = utcnow() - timedelta(minutes=1)
        session.add(event)


class _write_lock:
    """Hold a lock that blocks writes to the assignment table until released."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        if self.engine.dialect.name == "postgresql":
            self.connection.execute(text("LOCK TABLE assignment IN EXCLUSIVE MODE"))
        else:
            # SQLite has one writer: taking the write lock blocks every other writer.
            self.connection.execute(text("DELETE FROM assignment WHERE id = -1"))

    def __exit__(self, *exc: object) -> None:
        self.transaction.rollback()
        self.connection.close()


def _wait_until(condition: object, what: str, timeout: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_routing_publishes_to_the_boards_that_show_the_event(env: tuple[Engine, str]) -> None:
    from dispatch.boards.streams import (
        county_stream,
        department_stream,
        event_stream,
        township_stream,
    )

    engine, redis_url = env
    event_id = commit_report(engine)
    connection = connect(redis_url)
    offer_for_routing(connection, [event_id])
    run_burst_worker(redis_url)
    ((entry_id, fields),) = stream_entries(connection, event_stream(event_id))
    delta = json.loads(fields[b"d"])
    assert entry_id == b"1-0"  # sequence numbers are the board's own counter
    assert delta["type"] == "routed" and delta["event"]["id"] == event_id
    assert delta["event"]["status"] == "dispatched"
    assert {s["action"] for s in delta["steps"]} == {"route", "dispatch"}
    assert connection.xlen(county_stream()) == 1
    assert connection.xlen(township_stream("320999004")) == 1
    lead_department = assignments_of(engine, event_id)[0][0]
    assert connection.xlen(department_stream(lead_department)) == 1
