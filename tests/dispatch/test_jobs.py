"""The routing job with real RQ workers, real Redis and a committed database; and its faults."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue, Worker
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.queues import PENDING_KEY, offer_for_routing
from dispatch.core.redis import connect
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment, Event, EventStatus, Step
from dispatch.jobs.scheduler import sweep
from dispatch.routing.router import Router
from tests.conftest import REPO
from tests.helpers import new_report, stream_entries
from tests.loop_fixtures import RedisServer, run_burst_worker


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
        with _write_lock(engine) as lock:
            offer_for_routing(connect(redis_url), [event_id])
            routing = Queue("routing", connection=connect(redis_url))
            _wait_until(lambda: routing.started_job_registry.count >= 1, "job to start")
            _wait_until(lambda: lock.holds_up_routing(redis_url), "the job to block on our lock")
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

    def __enter__(self) -> _write_lock:
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        if self.engine.dialect.name == "postgresql":
            self.pid = self.connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            self.connection.execute(text("LOCK TABLE assignment IN EXCLUSIVE MODE"))
        else:
            # SQLite has one writer: taking the write lock blocks every other writer.
            self.connection.execute(text("DELETE FROM assignment WHERE id = -1"))
        return self

    def holds_up_routing(self, redis_url: str) -> bool:
        """Tell whether a routing job has taken its ids and now waits inside its transaction.

        The ids have left the pending set (taken, not committed: we hold the write lock). On
        PostgreSQL, another connection's transaction has locked rows (it has a transaction id)
        and waits for our lock: the kill lands mid-transaction, not before it began.
        """
        if connect(redis_url).scard(PENDING_KEY) != 0:
            return False
        if self.engine.dialect.name != "postgresql":
            return True
        with self.engine.connect() as observer:
            blocked = observer.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                    " AND :holder = ANY(pg_blocking_pids(pid))"
                ),
                {"holder": self.pid},
            ).scalar_one()
        return bool(blocked)

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


def _route_steps(engine: Engine, event_id: int) -> int:
    """Return how many times an event was routed (its route steps)."""
    with Session(engine) as session:
        steps = session.exec(
            select(Step).where(Step.event_id == event_id, Step.action == "route")
        ).all()
        return len(steps)


def test_the_worker_outlives_redis_going_away_mid_job_and_routes_once_it_is_back(
    env: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, _shared_redis = env
    server = RedisServer(tmp_path)
    server.start()
    children_env = {**os.environ, "REDIS_URL": server.url}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        cwd=REPO,
        env=children_env,
        stderr=log,
        start_new_session=True,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "scheduler", "--interval", "1"],
        cwd=REPO,
        env=children_env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until(lambda: len(Worker.all(connection=connect(server.url))) >= 1, "worker")
        during = commit_report(engine)
        with _write_lock(engine) as lock:
            offer_for_routing(connect(server.url), [during])
            _wait_until(lambda: lock.holds_up_routing(server.url), "the job to block on our lock")
            server.stop()  # Redis goes away while the job is inside its transaction
            fault = time.monotonic()
        # The job commits without Redis; its hand-off and RQ's bookkeeping fail.
        _wait_until(lambda: status_of(engine, during) == EventStatus.DISPATCHED, "commit")
        after = commit_report(engine)  # reported while Redis is away: nobody is told
        time.sleep(2)
        assert worker.poll() is None, "the worker quit while Redis was away"
        server.start()  # back, and empty (no persistence): the sweeper re-offers
        _wait_until(
            lambda: status_of(engine, after) == EventStatus.DISPATCHED,
            "the event reported during the outage to route",
            timeout=max(fault + 15 - time.monotonic(), 0.1),
        )
        assert worker.poll() is None
        assert len(Worker.all(connection=connect(server.url))) >= 1, "the worker registered again"
        assert (_route_steps(engine, during), _route_steps(engine, after)) == (1, 1)
        for event_id in (during, after):
            pairs = assignments_of(engine, event_id)
            assert len(pairs) == len(set(pairs)) and [r for _, r in pairs].count("lead") == 1
    finally:
        for process in (worker, scheduler):
            if process.poll() is None:
                _kill_tree(process)
        log.close()
        server.stop()
        print((tmp_path / "worker.log").read_text(errors="replace")[-3000:])


def test_a_stop_signal_stops_the_worker_while_redis_is_away(
    env: tuple[Engine, str], tmp_path: Path
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"],
            cwd=REPO,
            env={**os.environ, "REDIS_URL": server.url},
            stderr=log,
            start_new_session=True,
        )
    try:
        _wait_until(lambda: len(Worker.all(connection=connect(server.url))) >= 1, "worker")
        server.stop()
        time.sleep(2)  # it notices on its next heartbeat or dequeue (every 5 s), and waits on
        worker.terminate()
        status = worker.wait(timeout=15)
        # Stopped on request, not crashed on the way.
        assert status == 0, (tmp_path / "worker.log").read_text(errors="replace")
    finally:
        if worker.poll() is None:
            _kill_tree(worker)
