"""Keep child processes running: reap the one that exits, log it, start it again with backoff.

`sipingtai up` runs its embedded Redis, RQ worker and scheduler under one `Supervisor`. A child
that exits (crash, `kill -9`, OOM killer) is reaped at once, so no zombie is left, and started
again after a delay that doubles with each exit in the recent window. A child that exits
`RestartPolicy.max_exits` times within `RestartPolicy.window_s` keeps failing: the supervisor
gives up, calls `on_give_up`, and `up` stops everything and exits non-zero.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """How soon to restart a child, and when to give up on it."""

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    # Five exits within a minute: the child cannot run here (a bad setting, a port taken);
    # restarting it for ever would only hide that from the operator.
    max_exits: int = 5
    window_s: float = 60.0

    def delay(self, recent_exits: int) -> float:
        """Return the wait before the next start, doubling with each recent exit."""
        return min(self.first_delay_s * 2 ** max(recent_exits - 1, 0), self.max_delay_s)


@dataclass(frozen=True)
class ChildSpec:
    """What to run: a name for the log, the command, its environment, and when it is ready."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    ready: Callable[[], bool] | None = None
    ready_timeout_s: float = 15.0
    # An exit with this status is planned (a worker past its memory bound): restarted at once,
    # not counted among the exits that make the supervisor give up.
    planned_exit_status: int | None = None


@dataclass
class Child:
    """One supervised child: its spec, its current process, and its recent exits."""

    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    starts: int = 0


class GaveUp(RuntimeError):
    """A child kept failing: it exited too often within the policy's window."""


class Supervisor:
    """Start children in order, watch them from a thread, restart those that exit."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        policy: RestartPolicy | None = None,
        log: Callable[[str], None] = print,
        on_give_up: Callable[[GaveUp], None] | None = None,
        poll_interval_s: float = 0.2,
    ) -> None:
        self.children = [Child(spec) for spec in specs]
        self.policy = policy or RestartPolicy()
        self.log = log
        self.on_give_up = on_give_up
        self.poll_interval_s = poll_interval_s
        self.gave_up: GaveUp | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def child(self, name: str) -> Child:
        """Return the child of that name."""
        return next(c for c in self.children if c.spec.name == name)

    def pids(self) -> dict[str, int | None]:
        """Return the current process id of each child (None while it waits to restart)."""
        with self._lock:
            return {
                c.spec.name: c.process.pid if c.process and c.process.poll() is None else None
                for c in self.children
            }

    def start(self) -> None:
        """Start every child in order, each ready before the next, then watch them."""
        for child in self.children:
            self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def poll(self, now: float | None = None) -> None:
        """Reap children that exited, schedule their restart, start those that are due."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._stopping.is_set():
                return
            for child in self.children:
                self._check(child, now)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching, then terminate the children in reverse order (kill if they linger)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            running = [c.process for c in reversed(self.children) if c.process is not None]
            for process in running:
                if process.poll() is None:
                    process.terminate()
            for process in running:
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_interval_s):
            try:
                self.poll()
            except GaveUp as exc:
                self.gave_up = exc
                self._stopping.set()
                if self.on_give_up is not None:
                    self.on_give_up(exc)
                return

    def _check(self, child: Child, now: float) -> None:
        process = child.process
        exited = process is not None and process.poll() is not None  # poll() reaps: no zombie
        if exited and process is not None and process.returncode == child.spec.planned_exit_status:
            child.process = None
            child.restart_at = now
            self.log(
                f"{child.spec.name} 按计划退出 exited as planned (pid {process.pid}, "
                f"status {process.returncode}); 立即重启 restarting now"
            )
        elif exited and process is not None:
            child.process = None
            child.exits.append(now)
            while child.exits and now - child.exits[0] > self.policy.window_s:
                child.exits.popleft()
            recent = len(child.exits)
            if recent >= self.policy.max_exits:
                self.log(
                    f"{child.spec.name} 反复退出，放弃重启 kept failing: exited {recent} times "
                    f"within {self.policy.window_s:.0f} s (last status {process.returncode})"
                )
                raise GaveUp(f"{child.spec.name} exited {recent} times")
            delay = self.policy.delay(recent)
            child.restart_at = now + delay
            self.log(
                f"{child.spec.name} 已退出 exited (pid {process.pid}, "
                f"status {process.returncode}); {delay:.1f} 秒后重启 restarting in {delay:.1f} s"
            )
        if child.process is None and child.restart_at is not None and now >= child.restart_at:
            child.restart_at = None
            pid = self._spawn(child)
            self.log(f"{child.spec.name} 已重启 restarted (pid {pid})")

    def _spawn(self, child: Child) -> int:
        spec = child.spec
        # umask 077: what the children write (Redis's append-only file holds the queued jobs)
        # is for the service's own user only, like the database beside it.
        process = subprocess.Popen(
            list(spec.argv), env=dict(spec.env) if spec.env is not None else None, umask=0o077
        )
        child.process = process
        child.starts += 1
        deadline = time.monotonic() + spec.ready_timeout_s
        while spec.ready is not None and not spec.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                break  # the watch loop sees the exit (or the next one) and restarts it
            time.sleep(0.05)
        return process.pid
