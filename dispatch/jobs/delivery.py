"""The webhook delivery job."""

from __future__ import annotations

from dispatch.delivery.webhooks import deliver
from dispatch.jobs.context import worker_context


def deliver_assignment(assignment_id: int) -> str:
    """Deliver one new assignment to its department's own system; running it twice posts once."""
    return deliver(worker_context().engine, assignment_id).value
