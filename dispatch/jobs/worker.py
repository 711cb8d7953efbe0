"""The RQ worker we run: it refreshes the reference data before forking each job."""

from __future__ import annotations

import logging

from rq import Queue, Worker
from rq.job import Job

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
