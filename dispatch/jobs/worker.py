"""The RQ worker we run: it refreshes the reference data before forking each job, and outlives
Redis going away."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Sequence

import redis
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job

# The job functions' modules are imported here, in the worker, so each forked horse inherits
# them loaded: RQ would otherwise import them (and build their pydantic models) in every horse,
# for every job. Measured: that cost the routing workers about a fifth of their CPU.
from dispatch.core.queues import JOB_MONITORING_S, WORKER_TTL_S
from dispatch.jobs import delivery as _delivery_jobs  # noqa: F401
from dispatch.jobs import routing as _routing_jobs  # noqa: F401
from dispatch.jobs.context import refresh_before_fork

log = logging.getLogger(__name__)

# Between two runs of the work loop after Redis went away: the wait doubles up to the cap.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 5.0
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class RoutingWorker(Worker):
    """A forking RQ worker whose horses inherit reference data that is current."""

    def __init__(self, queues: Sequence[Queue], connection: redis.Redis) -> None:
        super().__init__(
            list(queues),
            connection=connection,
            worker_ttl=WORKER_TTL_S,
            job_monitoring_interval=JOB_MONITORING_S,
        )
        self.signalled = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Refresh the built index if reference data changed, then fork the horse as usual."""
        try:
            refresh_before_fork()
        except Exception:  # the horse checks again itself; a failed refresh must not stop work
            log.exception("could not refresh reference data before a job")
        super().execute_job(job, queue)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """Heartbeat while the horse works; a missed beat while Redis is away is only logged.

        RQ would let the error end its work loop with the horse still running; the horse's
        job goes on and its ids are either committed or left to the sweeper.
        """
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_DOWN as exc:
            log.warning("Redis 不可用，心跳未发送 heartbeat missed: %s", exc)

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
        return bool(self._stop_requested or self.signalled)


def run_worker(connection: redis.Redis, queue_names: Sequence[str], *, burst: bool) -> None:
    """Run the work loop, and again each time it ends because Redis went away, until stopped.

    RQ ends its loop on any Redis error outside the dequeue ("found an unhandled exception,
    quitting"). A fresh worker registers again (Redis may have restarted empty) once Redis
    answers; ids a dead job took are re-offered by the scheduler's sweep.
    """
    queues = [Queue(n, connection=connection) for n in queue_names]
    wait_s = RECONNECT_FIRST_S
    # A stop signal may come at any point, Redis away or not: RQ's handler (or ours while
    # waiting) raises StopRequested, which ends the loop here, quietly.
    with contextlib.suppress(StopRequested):
        while True:
            worker = RoutingWorker(queues, connection)
            started = time.monotonic()
            try:
                worker.work(burst=burst, with_scheduler=False)
            except REDIS_DOWN as exc:  # its teardown could not register its death
                log.warning("Redis 不可用 unavailable as the worker stopped: %s", exc)
            if burst or worker.stop_requested:
                return
            if time.monotonic() - started > 60:
                wait_s = RECONNECT_FIRST_S
            _wait_for_redis(connection, wait_s)
            if worker.stop_requested:
                return
            wait_s = min(wait_s * 2, RECONNECT_MAX_S)
            log.warning("工作进程重新连接 worker reconnected to Redis; starting its loop again")


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
