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
from rq import Queue, Worker

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
# Under a backlog a running drain queues helpers, one for each further worker listening on the
# routing queue and at most this many drains in all, each holding a flag of its own (its slot):
# routing then goes at as many workers' pace as run, not one's. Two drains never take the same
# event: the pending set pops each id once and the rows are locked FOR UPDATE SKIP LOCKED.
MAX_DRAINS = 8
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
        _queue_drain(connection, 0)


def offer_helper_drain(connection: redis.Redis) -> int | None:
    """Queue one more drain if a slot is free below the routing workers' count; return it.

    Called by a running drain that still sees a batch's worth pending. Slot 0 is the one
    intake's offers use; helpers take the others, so a backlog is drained by every worker.
    """
    routing = Queue(ROUTING_QUEUE, connection=connection)
    slots = min(Worker.count(connection=connection, queue=routing), MAX_DRAINS)
    for slot in range(1, slots):
        if connection.set(drain_flag_key(slot), "1", nx=True, ex=DRAIN_FLAG_TTL_S):
            _queue_drain(connection, slot)
            return slot
    return None


def drain_flag_key(slot: int) -> str:
    """Return the key of the flag that says the drain of this slot is queued or running."""
    return DRAIN_FLAG_KEY if slot == 0 else f"{DRAIN_FLAG_KEY}:{slot}"


def _queue_drain(connection: redis.Redis, slot: int) -> None:
    ticket = int(connection.incr(DRAIN_COUNTER_KEY))
    Queue(ROUTING_QUEUE, connection=connection).enqueue_call(
        "dispatch.jobs.routing.drain_routing",
        kwargs={"slot": slot} if slot else None,
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


def hold_drain_flag(connection: redis.Redis, slot: int = 0) -> None:
    """Say a slot's drain is running, so no other is queued in it (as it starts, while it runs).

    Held for DRAIN_HOLD_S at a time: a drain killed on the way holds back new drains no longer.
    """
    connection.set(drain_flag_key(slot), "1", ex=DRAIN_HOLD_S)


def release_drain_flag(connection: redis.Redis, slot: int = 0) -> None:
    """Free a slot for a new drain job (called as its drain ends)."""
    connection.delete(drain_flag_key(slot))
