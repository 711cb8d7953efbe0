"""The RQ worker we run: it refreshes the reference data before forking each job."""

from __future__ import annotations

import logging

from rq import Queue, Worker
from rq.job import Job

# The job functions' modules are imported here, in the worker, so each forked horse inherits
# them loaded: RQ would otherwise import them (and build their pydantic models) in every horse,
# for every job. Measured: that cost the routing workers about a fifth of their CPU.
from dispatch.jobs import delivery as _delivery_jobs  # noqa: F401
from dispatch.jobs import routing as _routing_jobs  # noqa: F401
from dispatch.jobs.context import refresh_before_fork

log = logging.getLogger(__name__)


class RoutingWorker(Worker):
    """A forking RQ worker whose horses inherit reference data that is current."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Refresh the built index if reference data changed, then fork the horse as usual."""
        try:
            refresh_before_fork()
        except Exception:  # the horse checks again itself; a failed refresh must not stop work
            log.exception("could not refresh reference data before a job")
        super().execute_job(job, queue)
