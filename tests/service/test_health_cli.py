"""`sipingtai health`: what the compose healthchecks run, against real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.jobs.scheduler import beat, beat_age
from tests.conftest import REPO
from tests.helpers import running_worker as start_worker

pytestmark = pytest.mark.slow


def sipingtai(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO,
        env=env or {**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def worker(worker_env: object, redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `sipingtai worker` until it has registered."""
    with start_worker(redis_url) as process:
        yield process


def test_the_worker_check_passes_while_a_worker_of_this_host_beats(
    worker: subprocess.Popen[bytes], redis_url: str
) -> None:
    alive = sipingtai("health", "--process", "worker")
    assert alive.returncode == 0, alive.stderr
    assert "fresh heartbeat: 1" in alive.stdout
    worker.terminate()
    worker.wait(timeout=10)
    gone = sipingtai("health", "--process", "worker")
    assert gone.returncode == 1 and "fresh heartbeat: 0" in gone.stderr


def test_the_service_check_says_degraded_and_why(worker_env: object) -> None:
    degraded = sipingtai("health")
    assert degraded.returncode == 1
    assert degraded.stderr.strip() == "degraded：分拨进程未在运行"


def test_the_scheduler_check_reads_its_beat(tmp_path: Path) -> None:
    path = tmp_path / "beat"
    assert beat_age(path) is None
    beat(path)
    age = beat_age(path)
    assert age is not None and age < 5


def test_the_scheduler_beats_each_round(worker_env: object) -> None:
    once = sipingtai("scheduler", "--once")
    assert once.returncode == 0, once.stderr
    check = sipingtai("health", "--process", "scheduler")
    assert check.returncode == 0 and "上次清扫" in check.stdout


def test_the_scheduler_rides_out_a_database_that_does_not_answer(
    worker_env: object, tmp_path: Path
) -> None:
    # A directory is no SQLite database: every connection attempt fails.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}"}
    once = sipingtai("scheduler", "--once", env=env)
    assert once.returncode == 1
    assert "数据库不可用" in once.stderr and "Traceback" not in once.stderr
