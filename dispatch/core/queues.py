"""The RQ queues and the routing hand-off.

Routing is batched. Intake adds event ids to a Redis set and makes sure one drain job is
queued; a worker drains the set in batches, so throughput is not one RQ job per event
while a lone event is still routed within a second. The database stays the source of
truth: the sweeper re-offers every committed event still waiting, so an id lost with a
dead worker or a Redis outage is routed later, and routing itself is idempotent."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from rq import Queue

from dispatch.core.redis import KEY_PREFIX

log = logging.getLogger(__name__)
PENDING_KEY = f"{KEY_PREFIX}:route:pending"
DRAIN_FLAG_KEY = f"{KEY_PREFIX}:route:drain-queued"
DRAIN_COUNTER_KEY = f"{KEY_PREFIX}:route:drain-counter"
ROUTING_QUEUE = "routing"
DELIVERY_QUEUE = "delivery"
QUEUES = (ROUTING_QUEUE, DELIVERY_QUEUE)
# An idle worker heartbeats every WORKER_TTL_S - 15 s (RQ's dequeue timeout), a busy one every
# JOB_MONITORING_S; health calls a worker whose last heartbeat is older than HEARTBEAT_STALE_S
# gone (a worker killed with -9 stays registered until its key expires, WORKER_TTL_S + 60 s).
WORKER_TTL_S = 20
JOB_MONITORING_S = 5
HEARTBEAT_STALE_S = 15
# If a drain job is lost before it runs, the flag expires and the next intake queues another.
DRAIN_FLAG_TTL_S = 10
# A running drain holds the flag this long at a time and renews it every DRAIN_RENEW_S.
DRAIN_HOLD_S = 2
DRAIN_RENEW_S = 0.5
# A drain hands over after about 5 s (jobs.routing.DRAIN_BUDGET_S); one still running after
# this long is stuck (a lock, a hung connection): RQ's death penalty stops it and its batch's
# ids go back to the pending set.
DRAIN_TIMEOUT_S = 60
# A worker past its memory bound exits with this status after its job: a planned restart,
# which `up`'s supervisor does at once and does not count as a failure (EX_TEMPFAIL).
RECYCLE_STATUS = 75


def offer_for_routing(
    connection: redis.Redis, event_ids: Iterable[int], *, force: bool = False
) -> None:
    """Hand committed events to the routing workers; raise redis errors to the caller.

    A drain job is queued unless the flag says one is queued or running; with force (the
    sweeper's events have waited too long: a drain may have died holding the flag) always.
    """
    ids = [int(i) for i in event_ids]
    if not ids:
        return
    pipe = connection.pipeline()
    pipe.sadd(PENDING_KEY, *ids)
    pipe.set(DRAIN_FLAG_KEY, "1", nx=not force, ex=DRAIN_FLAG_TTL_S)
    _, newly_flagged = pipe.execute()
    if newly_flagged:
        ticket = int(connection.incr(DRAIN_COUNTER_KEY))
        Queue(ROUTING_QUEUE, connection=connection).enqueue_call(
            "dispatch.jobs.routing.drain_routing",
            job_id=f"route-drain-{ticket}",
            timeout=DRAIN_TIMEOUT_S,
            result_ttl=60,
            failure_ttl=24 * 3600,
        )


def offer_quietly(connection: redis.Redis | None, event_ids: Iterable[int]) -> bool:
    """Offer events for routing, logging instead of raising when Redis is unavailable."""
    if connection is None:
        return False
    try:
        offer_for_routing(connection, event_ids)
    except redis.RedisError as exc:
        log.warning("routing hand-off deferred to the sweeper: %s", exc)
        return False
    return True


def take_pending(connection: redis.Redis, count: int) -> list[int]:
    """Pop up to count event ids waiting for routing."""
    popped = connection.spop(PENDING_KEY, count)
    return sorted(int(i) for i in (popped or []))


def hold_drain_flag(connection: redis.Redis) -> None:
    """Say a drain is running, so intake queues no other (as a drain starts, and while it runs).

    Held for DRAIN_HOLD_S at a time: a drain killed on the way holds back new drains no longer.
    """
    connection.set(DRAIN_FLAG_KEY, "1", ex=DRAIN_HOLD_S)


def release_drain_flag(connection: redis.Redis) -> None:
    """Let the next intake queue a new drain job (called as a drain ends)."""
    connection.delete(DRAIN_FLAG_KEY)
