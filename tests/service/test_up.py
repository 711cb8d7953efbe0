"""`sipingtai up` on a fresh data directory: everything starts, a stop signal stops it all, and
a child that dies comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from dispatch.core.db import make_engine
from dispatch.events.models import Assignment, Event, EventStatus, Step
from dispatch.users.service import DEMO_PASSWORD
from tests.conftest import REPO
from tests.helpers import free_port
from tests.service.test_loop import report_body

pytestmark = pytest.mark.slow


def embedded_redis(data_dir: Path) -> list[psutil.Process]:
    """Return the redis-servers working in the data directory."""
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if "redis" in (process.info["name"] or "") and process.cwd() == str(data_dir):
                found.append(process)
        except psutil.Error:
            continue
    return found


class Up:
    """A `sipingtai up` process on a data directory of its own, answering on a free port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        # No demo history: these tests need a running service, not a past to look at.
        argv = ["up", "--port", str(self.port), "--data-dir", str(data_dir), "--no-history"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", *argv],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))

    def log(self) -> str:
        """Return what `up` printed so far."""
        return "".join(self.output)

    def wait_healthy(self, timeout: float = 120) -> httpx.Response:
        """Wait until GET /api/health answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log()
            try:
                health = httpx.get(f"{self.base}/api/health", timeout=2)
                if health.status_code == 200:
                    return health
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"sipingtai up was not healthy:\n{self.log()}"
            time.sleep(0.25)

    def children(self) -> list[psutil.Process]:
        """Return every process `up` runs, the job horses included."""
        return psutil.Process(self.process.pid).children(recursive=True)

    def child(self, word: str) -> psutil.Process:
        """Return the one direct child whose command line says word (worker, scheduler)."""
        found = []
        for c in psutil.Process(self.process.pid).children():
            try:
                if c.status() != psutil.STATUS_ZOMBIE:  # a zombie, not yet reaped, says nothing
                    found.append((c, c.cmdline()))
            except psutil.NoSuchProcess:
                continue
        # RQ renames its worker's process (rq:worker:<name>: ...).
        (chosen,) = [
            c for c, line in found if line and (word in line or line[0].startswith(f"rq:{word}"))
        ]
        return chosen

    def engine(self) -> Engine:
        """Return an engine on the SQLite database `up` created."""
        return make_engine(f"sqlite:///{self.data_dir / 'sipingtai.db'}")

    def stop(self) -> None:
        """Stop it (and, if it lingers, kill it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    """Run `sipingtai up` on a fresh data directory until it is healthy."""
    running = Up(tmp_path)
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_serves_the_pages_and_api_and_a_stop_signal_stops_every_process(
    up: Up, stop: signal.Signals
) -> None:
    health = httpx.get(f"{up.base}/api/health", timeout=5)
    assert health.json()["redis"] == "ok" and health.json()["workers"] == 1
    assert (up.data_dir / "sipingtai.db").is_file()
    children = up.children()
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "worker" in names and "scheduler" in names
    embedded = embedded_redis(up.data_dir)
    assert embedded, "no embedded redis-server keeps its data in the data directory"
    assert {p.pid for p in embedded} <= {c.pid for c in children}, "Redis is a supervised child"
    # What the children write there (Redis's append-only file holds the queued jobs) is private.
    shared = {p.name: oct(p.stat().st_mode & 0o777) for p in up.data_dir.iterdir()}
    assert all(int(m, 8) & 0o077 == 0 for m in shared.values()), shared
    up.process.send_signal(stop)
    up.process.wait(timeout=30)
    assert up.process.returncode == 0, up.log()
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]


class Reporter:
    """Report events through the API from a thread, a few per second, as grid workers would."""

    def __init__(self, base: str, per_second: float = 10) -> None:
        token = httpx.post(
            f"{base}/api/auth/token", data={"username": "grid", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.interval = 1 / per_second
        self.ids: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def keep_on(self, after: int, seconds: float = 3, reports: int = 10) -> None:
        """Go on reporting for some seconds and at least some more reports (on a busy machine)."""
        until = time.monotonic() + seconds
        while time.monotonic() < until or len(self.ids) < after + reports:
            assert time.monotonic() < until + 30, "the API stopped answering reports"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop reporting and wait for the last answer."""
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.client.post("/api/events", json=report_body())
                if answer.status_code == 201:
                    self.ids.append(answer.json()["id"])
                else:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
            self._stop.wait(self.interval)


def routing_counts(engine: Engine, ids: list[int]) -> tuple[int, dict[int, int], dict[int, int]]:
    """Return how many events still wait, and per event its route steps and lead assignments."""
    with Session(engine) as session:
        waiting = session.exec(
            select(func.count(col(Event.id))).where(
                col(Event.id).in_(ids), Event.status == EventStatus.REPORTED
            )
        ).one()
        routes = dict(
            session.exec(
                select(Step.event_id, func.count(col(Step.id)))
                .where(col(Step.event_id).in_(ids), Step.action == "route")
                .group_by(col(Step.event_id))
            ).all()
        )
        leads = dict(
            session.exec(
                select(Assignment.event_id, func.count(col(Assignment.id)))
                .where(col(Assignment.event_id).in_(ids), Assignment.role == "lead")
                .group_by(col(Assignment.event_id))
            ).all()
        )
    return int(waiting), routes, leads


def wait_all_routed(engine: Engine, ids: list[int], deadline: float) -> float:
    """Wait until none of the events is still reported; return when that happened."""
    while True:
        waiting, _routes, _leads = routing_counts(engine, ids)
        if waiting == 0:
            return time.monotonic()
        assert time.monotonic() < deadline, f"{waiting} of {len(ids)} events still unrouted"
        time.sleep(0.2)


def assert_routed_once(engine: Engine, ids: list[int]) -> None:
    """Every event routed exactly once: one route step and one lead assignment each."""
    waiting, routes, leads = routing_counts(engine, ids)
    assert waiting == 0
    assert {routes.get(i, 0) for i in ids} == {1}, "an event was routed twice, or never"
    assert {leads.get(i, 0) for i in ids} == {1}, "an event got two lead assignments, or none"


def kill_tree(process: psutil.Process) -> None:
    """kill -9 a process and its children at once, as a machine that dies would."""
    victims = [process, *process.children(recursive=True)]
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            continue


def test_a_worker_killed_under_up_is_restarted_and_every_event_routes_once(up: Up) -> None:
    engine = up.engine()
    worker = up.child("worker")
    with Reporter(up.base) as reporter:
        while len(reporter.ids) < 20:
            time.sleep(0.05)
        kill_tree(worker)
        fault = time.monotonic()
        reporter.keep_on(after=len(reporter.ids))  # reports keep coming while it is away
    assert reporter.failures == []
    routed_at = wait_all_routed(engine, reporter.ids, deadline=fault + 15)
    assert_routed_once(engine, reporter.ids)
    # The dead worker is reaped (no zombie left under `up`) and another one runs in its place.
    assert not psutil.pid_exists(worker.pid) or worker.status() != psutil.STATUS_ZOMBIE
    assert up.child("worker").pid != worker.pid
    assert "worker 已退出 exited" in up.log() and "worker 已重启 restarted" in up.log()
    print(f"\n{len(reporter.ids)} events, all routed {routed_at - fault:.1f} s after the kill")
    assert up.wait_healthy(timeout=20).json()["workers"] >= 1
    engine.dispose()


def test_the_embedded_redis_killed_under_up_comes_back_and_every_event_routes_once(
    up: Up,
) -> None:
    engine = up.engine()
    (redis_server,) = embedded_redis(up.data_dir)
    worker = up.child("worker")
    with Reporter(up.base) as reporter:
        while len(reporter.ids) < 20:
            time.sleep(0.05)
        redis_server.kill()
        fault = time.monotonic()
        reporter.keep_on(after=len(reporter.ids))
    assert reporter.failures == [], "intake keeps answering while Redis is away"
    routed_at = wait_all_routed(engine, reporter.ids, deadline=fault + 15)
    assert_routed_once(engine, reporter.ids)
    assert "redis 已重启 restarted" in up.log()
    assert up.child("worker").pid == worker.pid, "the worker outlived Redis and reconnected"
    print(f"\n{len(reporter.ids)} events, all routed {routed_at - fault:.1f} s after the kill")
    assert up.wait_healthy(timeout=20).json()["workers"] >= 1
    engine.dispose()


def test_up_exits_1_when_a_child_keeps_failing(up: Up) -> None:
    children = up.children()
    for _ in range(5):  # five exits within a minute: the policy gives up on the fifth
        worker = up.child("worker")
        worker.kill()
        deadline = time.monotonic() + 30
        while up.process.poll() is None:
            try:
                if up.child("worker").pid != worker.pid:
                    break
            except ValueError:
                pass  # between the exit and the restart
            assert time.monotonic() < deadline, up.log()
            time.sleep(0.05)
    up.process.wait(timeout=30)
    assert up.process.returncode == 1, up.log()
    assert "worker 反复退出，放弃重启 kept failing: exited 5 times" in up.log()
    _gone, alive = psutil.wait_procs([c for c in children if c.is_running()], timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
