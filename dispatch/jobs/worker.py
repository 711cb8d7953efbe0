"""The RQ worker we run: jobs in its own process, bounded as a horse would be; it outlives Redis.

A forked horse per job cost about 20 ms of CPU even for an empty drain, more than routing a
batch of events. So the worker runs each job in itself, as rq.SimpleWorker does, and keeps
what a horse gave: the job timeout (RQ's death penalty, SIGALRM, in this process), a memory
bound (past WORKER_MAX_RSS_MB the worker finishes its job and exits with RECYCLE_STATUS; `up`'s
supervisor and Docker start a fresh one), and restart on failure (a failed job gives its ids
back and the worker goes on; a dead worker is restarted and the sweeper re-offers its ids).
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job

# The job functions' modules are imported up front, so the first job does not pay for
# importing them (and building their pydantic models).
from dispatch.core.queues import JOB_MONITORING_S, RECYCLE_STATUS, WORKER_TTL_S
from dispatch.jobs import delivery as _delivery_jobs  # noqa: F401
from dispatch.jobs import routing as _routing_jobs  # noqa: F401
from dispatch.jobs.context import refresh_before_job

log = logging.getLogger(__name__)

# Between two runs of the work loop after Redis went away: the wait doubles up to the cap.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 5.0
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
__all__ = ["RECYCLE_STATUS", "RoutingWorker", "rss_bytes", "run_worker"]


def rss_bytes() -> int:
    """Return this process's resident memory now (its peak where /proc is missing)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RoutingWorker(SimpleWorker):
    """An RQ worker that runs each job in its own process, current and bounded in memory."""

    def __init__(
        self, queues: Sequence[Queue], connection: redis.Redis, *, max_rss_mb: float | None = None
    ) -> None:
        super().__init__(
            list(queues),
            connection=connection,
            worker_ttl=WORKER_TTL_S,
            job_monitoring_interval=JOB_MONITORING_S,
        )
        self.signalled = False
        self.max_rss_bytes = int(max_rss_mb * 2**20) if max_rss_mb else None
        self.recycle = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Refresh the built index if reference data changed, run the job, check memory."""
        try:
            refresh_before_job()
        except Exception:  # the job checks again itself; a failed refresh must not stop work
            log.exception("could not refresh reference data before a job")
        done = threading.Event()
        beating = threading.Thread(
            target=self._beat_while_working, args=(job, done), name="heartbeat", daemon=True
        )
        beating.start()
        try:
            super().execute_job(job, queue)
        finally:
            done.set()
            beating.join()
            self._check_memory()

    def _beat_while_working(self, job: Job, done: threading.Event) -> None:
        """Heartbeat every JOB_MONITORING_S while a job runs, as RQ does while a horse works.

        Health calls a worker silent for HEARTBEAT_STALE_S gone; a job blocked on a lock
        is still alive until its timeout. A missed beat while Redis is away is only logged.
        """
        while not done.wait(JOB_MONITORING_S):
            try:
                self.heartbeat(self.get_heartbeat_ttl(job))
            except REDIS_DOWN as exc:
                log.warning("Redis 不可用，心跳未发送 heartbeat missed: %s", exc)

    def _check_memory(self) -> None:
        if self.max_rss_bytes is None or self.recycle:
            return
        rss = rss_bytes()
        if rss > self.max_rss_bytes:
            log.warning(
                "工作进程内存 %.0f MB 超过上限 %.0f MB，退出后由新进程接替 worker past its "
                "memory bound: stopping after this job for a fresh process",
                rss / 2**20,
                self.max_rss_bytes / 2**20,
            )
            self.recycle = True
            self._stop_requested = True

    def request_stop(self, signum: int, frame: object) -> None:
        """Stop warmly as RQ does; while Redis is away, stop without asking it about the job."""
        self.signalled = True
        try:
            super().request_stop(signum, frame)
        except REDIS_DOWN:
            raise StopRequested() from None

    @property
    def stop_requested(self) -> bool:
        """Tell whether a signal asked this worker to stop."""
        return bool(self.signalled)


def run_worker(
    connection: redis.Redis,
    queue_names: Sequence[str],
    *,
    burst: bool,
    max_rss_mb: float | None = None,
) -> bool:
    """Run the work loop, and again each time it ends because Redis went away, until stopped.

    RQ ends its loop on any Redis error outside the dequeue ("found an unhandled exception,
    quitting"). A fresh worker registers again (Redis may have restarted empty) once Redis
    answers; ids a dead job took are re-offered by the scheduler's sweep. Return True when
    the worker stopped past its memory bound: the process should exit for a fresh one.
    """
    queues = [Queue(n, connection=connection) for n in queue_names]
    wait_s = RECONNECT_FIRST_S
    # A stop signal may come at any point, Redis away or not: RQ's handler (or ours while
    # waiting) raises StopRequested, which ends the loop here, quietly.
    with contextlib.suppress(StopRequested):
        while True:
            worker = RoutingWorker(queues, connection, max_rss_mb=max_rss_mb)
            started = time.monotonic()
            try:
                worker.work(burst=burst, with_scheduler=False)
            except REDIS_DOWN as exc:  # its teardown could not register its death
                log.warning("Redis 不可用 unavailable as the worker stopped: %s", exc)
            if worker.recycle:
                return True
            if burst or worker.stop_requested:
                return False
            if time.monotonic() - started > 60:
                wait_s = RECONNECT_FIRST_S
            _wait_for_redis(connection, wait_s)
            if worker.stop_requested:
                return False
            wait_s = min(wait_s * 2, RECONNECT_MAX_S)
            log.warning("工作进程重新连接 worker reconnected to Redis; starting its loop again")
    return False


def _wait_for_redis(connection: redis.Redis, first_wait_s: float) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    wait_s = first_wait_s
    while True:
        time.sleep(wait_s)
        try:
            connection.ping()
            return
        except REDIS_DOWN as exc:
            log.warning("Redis 不可用，%.1f 秒后重试 unavailable, retrying: %s", wait_s, exc)
            wait_s = min(wait_s * 2, RECONNECT_MAX_S)


def _stop(_signum: int, _frame: object) -> None:
    raise StopRequested()
