"""The supervisor of `sipingtai up`'s children, with real child processes."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import psutil

from service.supervisor import ChildSpec, GaveUp, RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
FAILER = [sys.executable, "-c", "raise SystemExit(3)"]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Wait until the condition holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_child_is_reaped_logged_and_restarted() -> None:
    lines: list[str] = []
    supervisor = Supervisor(
        [ChildSpec("sleeper", SLEEPER), ChildSpec("other", SLEEPER)],
        policy=RestartPolicy(first_delay_s=0.1),
        log=lines.append,
        poll_interval_s=0.05,
    )
    supervisor.start()
    try:
        first = supervisor.pids()["sleeper"]
        other = supervisor.pids()["other"]
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.pids()["sleeper"] not in (None, first), "a new sleeper")
        assert supervisor.pids()["other"] == other, "the other child is left alone"
        # Reaped: the dead child is no zombie, it is gone from the process table.
        assert not psutil.pid_exists(first) or psutil.Process(first).status() != "zombie"
        assert any("sleeper" in line and "exited" in line and "-9" in line for line in lines)
        assert any("sleeper" in line and "restarted" in line for line in lines)
        assert supervisor.child("sleeper").starts == 2
    finally:
        supervisor.stop()
    assert supervisor.pids() == {"sleeper": None, "other": None}


def test_the_delay_doubles_with_each_recent_exit_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=4.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_a_child_that_keeps_failing_makes_the_supervisor_give_up() -> None:
    given_up = threading.Event()
    lines: list[str] = []
    supervisor = Supervisor(
        [ChildSpec("failer", FAILER), ChildSpec("sleeper", SLEEPER)],
        policy=RestartPolicy(first_delay_s=0.05, max_exits=3, window_s=30),
        log=lines.append,
        on_give_up=lambda _exc: given_up.set(),
        poll_interval_s=0.02,
    )
    started = time.monotonic()
    supervisor.start()
    try:
        assert given_up.wait(timeout=15), lines
        elapsed = time.monotonic() - started
        assert isinstance(supervisor.gave_up, GaveUp)
        assert "failer exited 3 times" in str(supervisor.gave_up)
        assert supervisor.child("failer").starts == 3
        # Backoff: restarts after 0.05 s and 0.1 s, not at once.
        assert elapsed >= 0.15
        assert any("kept failing" in line for line in lines)
        assert supervisor.pids()["sleeper"] is not None, "giving up stops nothing by itself"
    finally:
        supervisor.stop()
    assert supervisor.pids()["sleeper"] is None


def test_exits_spread_beyond_the_window_never_give_up() -> None:
    policy = RestartPolicy(max_exits=2, window_s=1)
    supervisor = Supervisor([ChildSpec("failer", FAILER)], policy=policy)
    child = supervisor.child("failer")
    # Drive poll() with our own clock: exits two seconds apart stay one in the window.
    supervisor._spawn(child)
    try:
        for second in (10.0, 12.0, 14.0):
            assert child.process is not None
            child.process.wait()
            supervisor.poll(now=second)
            assert child.process is None and len(child.exits) == 1
            supervisor.poll(now=second + 1.5)
        assert supervisor.gave_up is None and child.starts == 4
    finally:
        supervisor.stop()


def test_a_planned_exit_is_restarted_at_once_and_never_counts_towards_giving_up() -> None:
    recycler = [sys.executable, "-c", "raise SystemExit(75)"]
    policy = RestartPolicy(first_delay_s=5.0, max_exits=2, window_s=60)
    lines: list[str] = []
    supervisor = Supervisor(
        [ChildSpec("worker", recycler, planned_exit_status=75)], policy=policy, log=lines.append
    )
    child = supervisor.child("worker")
    supervisor._spawn(child)
    try:
        for second in (10.0, 10.1, 10.2, 10.3):
            assert child.process is not None
            child.process.wait()
            supervisor.poll(now=second)  # reaped and, with no backoff, started again at once
            assert child.process is not None
        assert supervisor.gave_up is None and child.starts == 5 and not child.exits
        assert sum("exited as planned" in line for line in lines) == 4
    finally:
        supervisor.stop()
