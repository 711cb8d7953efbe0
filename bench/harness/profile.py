"""Record running processes with py-spy and summarise the raw stacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness.processes import REPO, Processes, say

# Frames left out of the cumulative ranking: event loops, threads, entry points, supervisors.
PLUMBING = (
    "asyncio/",
    "threading.py",
    "concurrent/futures",
    "uvloop",
    "<module>",
    "runpy.py",
    "multiprocessing/",
    "click/",
    "typer/",
    "rq/cli",
    "uvicorn/main",
    "uvicorn/server",
    "uvicorn/supervisors",
    "uvicorn/_subprocess",
    "contextvars",
    "anyio/_backends",
    "anyio/to_thread",
    "rq/worker",
    "rq/job.py",
)


def py_spy() -> str | None:
    """Return the py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def profiled(
    processes: Processes, work: Path, targets: dict[str, tuple[int, list[str]]], seconds: int
) -> Iterator[dict[str, str]]:
    """Record each target (name: pid, extra py-spy options) while the body runs; summarise after.

    Subprocesses are included (RQ forks a horse per job). The yielded dict is filled with
    one summary per target once the body is done; without py-spy it says so instead.
    """
    summaries: dict[str, str] = {}
    spy = py_spy()
    if spy is None:
        say("py-spy not found (pip install py-spy); skipping the profile")
        summaries["skipped"] = "py-spy not installed"
        yield summaries
        return
    say(f"profile: py-spy on {', '.join(targets)} for {seconds} s")
    recorders = {}
    for name, (pid, extra) in targets.items():
        raw = work / f"{name}.pyspy.txt"
        argv = [spy, "record", "--pid", str(pid), "--output", str(raw), "--format", "raw"]
        argv += ["--duration", str(seconds + 1), "--rate", "100", "--subprocesses"]
        argv += ["--nonblocking", "--full-filenames", *extra]
        recorders[name] = processes.start(f"py-spy-{name}", argv, dict(os.environ))
    time.sleep(0.5)
    yield summaries
    for name, recorder in recorders.items():
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            processes.stop(recorder)
        raw = work / f"{name}.pyspy.txt"
        summaries[name] = (
            summarise_profile(raw)
            if raw.exists()
            else f"    no profile recorded:\n{processes.tail(f'py-spy-{name}')}"
        )


def _package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(REPO)):
        return path[len(str(REPO)) + 1 :].split("/", 1)[0]
    if "/lib/python3" in path:
        return "stdlib"
    return path.rsplit("/", 1)[-1] or "?"


def _short(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(str(REPO)):
        path = path[len(str(REPO)) + 1 :]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return f"{name} ({path})"


def summarise_profile(raw: Path, top: int = 15) -> str:
    """Summarise py-spy raw (collapsed) stacks: self time by package, top functions."""
    self_fn: Counter[str] = Counter()
    cum_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f.endswith(")") and " (" in f and ":" in f]
        if not frames:
            continue
        total += n
        leaf = frames[-1]
        self_fn[_short(leaf)] += n
        self_pkg[_package(leaf.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0])] += n
        for name in {_short(f) for f in frames}:
            cum_fn[name] += n
    if not total:
        return "    (no samples)"
    out = [f"    {total} samples; self time by package:"]
    out += [f"      {n / total:6.1%}  {p}" for p, n in self_pkg.most_common(10)]
    out.append("    top functions by self time:")
    out += [f"      {n / total:6.1%}  {f}" for f, n in self_fn.most_common(top)]
    out.append("    top functions by cumulative time (project code and the libraries it calls):")
    picked = [(f, n) for f, n in cum_fn.most_common() if not any(s in f for s in PLUMBING)]
    out += [f"      {n / total:6.1%}  {f}" for f, n in picked[:top]]
    return "\n".join(out)
