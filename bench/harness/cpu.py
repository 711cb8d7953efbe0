"""Meter CPU seconds per named group of processes (psutil), and for the whole machine."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass
class CpuGroup:
    """A named set of processes whose CPU seconds are summed."""

    name: str
    find: Callable[[], list[psutil.Process]]
    with_reaped_children: bool = False
    detail_of_previous: bool = False  # shown, but already counted in the group above


def tree(pid: int) -> list[psutil.Process]:
    """Return a process and all its descendants (none if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def this_process() -> list[psutil.Process]:
    """Return the bench process itself."""
    return [psutil.Process()]


def postgres_backends(database: str) -> list[psutil.Process]:
    """Return the PostgreSQL backends connected to one database."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["name"] == "postgres" and f" {database} " in f" {cmd} ":
            found.append(p)
    return found


def postgres_server() -> list[psutil.Process]:
    """Return the whole PostgreSQL server: the postmaster (with its reaped backends) and all."""
    for p in psutil.process_iter(["name"]):
        with suppress(psutil.Error):
            if p.info["name"] == "postgres" and p.parent().name() != "postgres":
                return tree(p.pid)
    return []


def redis_server() -> list[psutil.Process]:
    """Return the redis-server processes (shared with whoever else uses this Redis)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]


def _cpu(processes: list[psutil.Process], reaped: bool) -> dict[tuple[int, float], float]:
    """Return CPU seconds so far per process (keyed by pid and start time)."""
    seconds = {}
    for p in processes:
        with suppress(psutil.Error):
            t = p.cpu_times()
            used = t.user + t.system
            if reaped:
                used += t.children_user + t.children_system
            seconds[(p.pid, p.create_time())] = used
    return seconds


@contextmanager
def at_times(*actions: tuple[float, Callable[[], object]]) -> Iterator[None]:
    """Run each (wall-clock time, action) on a timer while the body runs; join them after."""
    timers = [threading.Timer(max(0.0, t - time.time()), action) for t, action in actions]
    for timer in timers:
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.join()


class CpuMeter:
    """CPU seconds per group, and machine-wide, between start() and stop()."""

    def __init__(self, groups: list[CpuGroup]) -> None:
        self.groups = groups
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}

    def _sample(self) -> dict[str, Any]:
        times = psutil.cpu_times()
        return {
            "groups": {g.name: _cpu(g.find(), g.with_reaped_children) for g in self.groups},
            "busy": sum(times) - times.idle - getattr(times, "iowait", 0.0),
            "wall": time.monotonic(),
        }

    def start(self) -> None:
        """Take the first sample."""
        self.before = self._sample()

    def stop(self) -> None:
        """Take the second sample."""
        self.after = self._sample()

    @contextmanager
    def window(self, start_at: float, seconds: float) -> Iterator[None]:
        """Sample at the wall-clock start_at and start_at + seconds, around the body."""
        with at_times((start_at, self.start), (start_at + seconds, self.stop)):
            yield

    def seconds(self) -> dict[str, float]:
        """Return each group's CPU seconds between the samples.

        A process that exited between the samples is lost (except children reaped by a
        process of the group); one that started in between counts from its start.
        """
        used = {}
        for group in self.groups:
            before = self.before["groups"][group.name]
            used[group.name] = sum(
                max(0.0, s - before.get(key, 0.0))
                for key, s in self.after["groups"][group.name].items()
            )
        return used

    def shares(self) -> dict[str, float]:
        """Return each group's share of one core between the samples, the machine's too.

        `_counted` sums the groups that are not details of the one above.
        """
        wall = self.after["wall"] - self.before["wall"]
        shares = {name: used / wall for name, used in self.seconds().items()}
        shares["_counted"] = sum(shares[g.name] for g in self.groups if not g.detail_of_previous)
        shares["machine busy"] = (self.after["busy"] - self.before["busy"]) / wall
        return shares

    def shares_beside(self, generator_cpu_s: float, generator_wall_s: float) -> dict[str, float]:
        """Return shares() with a load generator's own CPU and the rest of the machine.

        The generator's processes are gone by the time of the second sample, so their
        CPU comes from the generator itself (LoadResult.cpu_s over LoadResult.wall_s).
        """
        cpu = self.shares()
        busy, counted = cpu.pop("machine busy"), cpu.pop("_counted")
        generator = generator_cpu_s / generator_wall_s if generator_wall_s else math.nan
        cpu["load generator"] = generator
        cpu["everything else on the machine"] = max(0.0, busy - counted - generator)
        cpu["machine busy (all cores)"] = busy
        return cpu
