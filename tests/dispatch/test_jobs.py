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
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.queues import (
    DRAIN_FLAG_KEY,
    PENDING_KEY,
    QUEUES,
    RECYCLE_STATUS,
    drain_flag_key,
    offer_for_routing,
)
from dispatch.core.redis import connect
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment, Event, EventStatus, Step
from dispatch.jobs import routing as routing_jobs
from dispatch.jobs.scheduler import sweep
from dispatch.jobs.worker import RoutingWorker, run_worker
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
            # The job runs in the worker itself (no horse): killing the worker kills the job.
            assert _children(worker) == []
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


def _children(process: subprocess.Popen[bytes]) -> list[int]:
    """Return the pids of a process's children."""
    import psutil

    return [c.pid for c in psutil.Process(process.pid).children(recursive=True)]


def _kill_tree(worker: subprocess.Popen[bytes]) -> None:
    """Kill a process and any child of it at once, as a machine that dies would.

    Our worker runs its jobs in itself, but a child left running (a forking RQ worker's
    horse sits in a process group of its own) would finish its job and then drain ids
    that later tests offer.
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

    def waiting(self) -> int:
        """Return how many other connections wait for our lock (PostgreSQL)."""
        with self.engine.connect() as observer:
            return int(
                observer.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE :holder = ANY(pg_blocking_pids(pid))"
                    ),
                    {"holder": self.pid},
                ).scalar_one()
            )

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


@pytest.mark.postgres
def test_a_drain_past_its_timeout_is_stopped_and_its_ids_routed_once_later(
    env: tuple[Engine, str],
) -> None:
    engine, redis_url = env
    event_id = commit_report(engine)
    connection = connect(redis_url)
    with _write_lock(engine) as lock:
        connection.sadd(PENDING_KEY, event_id)
        Queue("routing", connection=connection).enqueue_call(
            "dispatch.jobs.routing.drain_routing", job_id="stuck-drain", timeout=1
        )
        run_burst_worker(redis_url)  # the drain blocks on our lock until RQ's death penalty
        job = Job.fetch("stuck-drain", connection=connection)
        result = job.latest_result()
        assert job.get_status() == "failed" and result is not None
        assert "JobTimeoutException" in (result.exc_string or "")
        assert connection.smembers(PENDING_KEY) == {str(event_id).encode()}  # given back
        # Its statement was cancelled, not left waiting on the server with the event locked.
        assert lock.waiting() == 0
    assert status_of(engine, event_id) == EventStatus.REPORTED
    offer_for_routing(connection, [event_id])
    run_burst_worker(redis_url)
    assert status_of(engine, event_id) == EventStatus.DISPATCHED
    assert _route_steps(engine, event_id) == 1


def test_a_worker_past_its_memory_bound_stops_after_its_job_for_a_fresh_process(
    env: tuple[Engine, str],
) -> None:
    engine, redis_url = env
    connection = connect(redis_url)
    queue = Queue("routing", connection=connection)
    first, second = commit_report(engine), commit_report(engine)
    for n, event_id in enumerate((first, second)):
        connection.sadd(PENDING_KEY, event_id)
        queue.enqueue_call("dispatch.jobs.routing.drain_routing", job_id=f"drain-{n}")
    # A bound below any Python process: the worker stops after one job, not in the middle.
    assert run_worker(connection, QUEUES, burst=False, max_rss_mb=1) is True
    assert queue.count == 1
    assert {status_of(engine, i) for i in (first, second)} == {EventStatus.DISPATCHED}
    assert run_worker(connection, QUEUES, burst=True, max_rss_mb=None) is False
    assert queue.count == 0


def test_the_worker_command_exits_with_the_recycle_status_past_its_memory_bound(
    env: tuple[Engine, str],
) -> None:
    engine, redis_url = env
    event_id = commit_report(engine)
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        cwd=REPO,
        env={**os.environ, "SIPINGTAI_WORKER_MAX_RSS_MB": "1"},
        start_new_session=True,
    )
    try:
        _wait_until(lambda: len(Worker.all(connection=connect(redis_url))) >= 1, "worker")
        offer_for_routing(connect(redis_url), [event_id])
        assert worker.wait(timeout=30) == RECYCLE_STATUS
    finally:
        if worker.poll() is None:
            _kill_tree(worker)
    assert status_of(engine, event_id) == EventStatus.DISPATCHED


def test_a_batch_routes_its_events_in_a_few_statements_with_the_cards_a_read_gives(
    env: tuple[Engine, str],
) -> None:
    from sqlalchemy import event as sa_event

    from dispatch.boards.cards import cards
    from dispatch.boards.streams import event_stream
    from dispatch.jobs.context import worker_context
    from dispatch.jobs.routing import route_batch

    engine, redis_url = env
    ids = [commit_report(engine, township_code=t) for t in ("320999004", "320999005") * 15]
    context = worker_context()
    connection = connect(redis_url)
    sent: list[str] = []

    def count(_c: object, _cur: object, statement: str, *_: object) -> None:
        sent.append(statement)

    sa_event.listen(context.engine, "before_cursor_execute", count)
    try:
        routed = route_batch(context, connection, ids)
    finally:
        sa_event.remove(context.engine, "before_cursor_execute", count)
    assert len(routed) == 30 and all(r.assignment_ids for r in routed)
    # One read of the events, one write each for events, assignments and steps (and their
    # ids), the cards' names and parts: a number that does not grow with the batch.
    assert len(sent) <= 20, sent
    assert sum(s.startswith("INSERT INTO assignment") for s in sent) == 1
    assert sum(s.startswith("INSERT INTO step") for s in sent) == 1
    assert sum(s.startswith("UPDATE event") for s in sent) == 1
    reads_of_parts = [s for s in sent if "FROM assignment \nWHERE assignment.event_id IN" in s]
    assert not reads_of_parts, "the cards take the parts just made, not a read of them"
    for one in routed:
        assert [role for _, role in assignments_of(engine, one.event_id)].count("lead") == 1
    # One session for the reads below: on SQLite a second one would wait for its write lock.
    with Session(engine) as session:
        for one in routed:
            steps = session.exec(select(Step).where(Step.event_id == one.event_id)).all()
            dispatched = {s.assignment_id for s in steps if s.action == "dispatch"}
            assert dispatched == set(one.assignment_ids)
        # The card the boards got is the card a fresh read of the rows builds.
        for event_id in (ids[0], ids[-1]):
            ((_, fields),) = stream_entries(connection, event_stream(event_id))
            published = json.loads(fields[b"d"])["event"]
            read = session.get(Event, event_id)
            assert read is not None
            assert published == cards(session, [read])[0]


def test_a_drain_holds_the_flag_and_routes_what_was_offered_as_it_ended(
    env: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, redis_url = env
    connection = connect(redis_url)
    routing = Queue("routing", connection=connection)
    first, late = commit_report(engine), commit_report(engine)
    offer_for_routing(connection, [first])
    assert routing.count == 1 and connection.exists(DRAIN_FLAG_KEY)
    flags_seen: list[bool] = []
    real_release = routing_jobs.release_drain_flag

    def release(conn: object, slot: int = 0) -> None:
        # While the drain ran its flag stood, so this offer queued no job of its own: the
        # report offered after the drain's last look and before the flag went down.
        flags_seen.append(bool(connection.exists(DRAIN_FLAG_KEY)))
        if late not in offered:
            offered.append(late)
            offer_for_routing(connection, [late])
        real_release(conn, slot)  # type: ignore[arg-type]

    offered: list[int] = []
    monkeypatch.setattr(routing_jobs, "release_drain_flag", release)
    run_burst_worker(redis_url)
    assert flags_seen[0], "the flag stood while the drain ran"
    assert {status_of(engine, i) for i in (first, late)} == {EventStatus.DISPATCHED}
    assert not connection.exists(DRAIN_FLAG_KEY) and routing.count == 0
    assert connection.scard(PENDING_KEY) == 0


@pytest.mark.parametrize("workers", [1, 3])
def test_a_backlog_is_drained_by_as_many_drains_as_routing_workers_each_event_once(
    env: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    engine, redis_url = env
    connection = connect(redis_url)
    monkeypatch.setattr(routing_jobs, "BATCH_SIZE", 3)
    ids = [commit_report(engine) for _ in range(12)]
    # Workers listening but not working: the burst worker below runs every drain in turn, and
    # the others count towards how many drains a backlog may have.
    idle = [
        RoutingWorker([Queue(q, connection=connection) for q in QUEUES], connection)
        for _ in range(workers - 1)
    ]
    for worker in idle:
        worker.register_birth()
    try:
        offer_for_routing(connection, ids)
        run_burst_worker(redis_url)
    finally:
        for worker in idle:
            worker.register_death()
    routing = Queue("routing", connection=connection)
    drains = Job.fetch_many(FinishedJobRegistry(queue=routing).get_job_ids(), connection)
    slots = sorted(job.kwargs.get("slot", 0) for job in drains if job is not None)
    assert slots == list(range(workers)), "one drain, and a helper for each further worker"
    assert {status_of(engine, i) for i in ids} == {EventStatus.DISPATCHED}
    with Session(engine) as session:
        parts = session.exec(select(Assignment).where(col(Assignment.event_id).in_(ids))).all()
    keys = [(p.event_id, p.department_id, p.role, p.round) for p in parts]
    assert len(set(keys)) == len(keys), "no part dispatched twice"
    leads = sorted(p.event_id for p in parts if p.role == "lead")
    assert leads == sorted(ids), "one lead part each"
    assert not any(connection.exists(drain_flag_key(s)) for s in range(workers))
    assert connection.scard(PENDING_KEY) == 0


def test_the_sweeper_queues_a_drain_past_a_flag_a_dead_drain_left(
    env: tuple[Engine, str],
) -> None:
    engine, redis_url = env
    connection = connect(redis_url)
    event_id = commit_report(engine)
    _age(engine, event_id)
    connection.set(DRAIN_FLAG_KEY, "1", ex=60)  # as a drain killed on the way leaves it
    offer_for_routing(connection, [event_id])
    routing = Queue("routing", connection=connection)
    assert routing.count == 0, "a report's offer trusts the flag"
    assert sweep(engine, connection) == 1
    assert routing.count == 1, "the sweeper's does not"
    run_burst_worker(redis_url)
    assert status_of(engine, event_id) == EventStatus.DISPATCHED
