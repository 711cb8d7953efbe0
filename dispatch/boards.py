"""Board events: every change is appended to the Redis Streams of the boards that show it.

One stream per board (county, township, department) and per event, each capped, so a
board that reconnects can ask for what it missed since a stream id. The websocket edge
reads these streams; nothing here knows about websockets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis

from dispatch.events import Routed
from dispatch.models import utcnow
from dispatch.queue import KEY_PREFIX

log = logging.getLogger(__name__)

# Enough history for a board that was away for a while; older readers get a fresh snapshot.
STREAM_MAXLEN = 10_000


def county_stream() -> str:
    """Return the stream key of the county board."""
    return f"{KEY_PREFIX}:board:county"


def township_stream(code: str) -> str:
    """Return the stream key of a township's board."""
    return f"{KEY_PREFIX}:board:township:{code}"


def department_stream(department_id: int) -> str:
    """Return the stream key of a department's inbox."""
    return f"{KEY_PREFIX}:board:department:{department_id}"


def event_stream(event_id: int) -> str:
    """Return the stream key of one event's live timeline."""
    return f"{KEY_PREFIX}:event:{event_id}"


def publish_routed(
    connection: redis.Redis, routed: Iterable[Routed], *, at: datetime | None = None
) -> int:
    """Append one message per routed event to every board that shows it; return how many."""
    moment = (at or utcnow()).isoformat()
    pipe = connection.pipeline(transaction=False)
    count = 0
    for item in routed:
        message: dict[Any, Any] = {
            "type": "routed" if item.assignment_ids else "needs_triage",
            "event_id": item.event_id,
            "status": item.outcome,
            "township_code": item.township_code or "",
            "matter_code": item.matter_code or "",
            "at": moment,
        }
        keys = [county_stream(), event_stream(item.event_id)]
        if item.township_code:
            keys.append(township_stream(item.township_code))
        keys.extend(department_stream(d) for d in sorted(set(item.department_ids)))
        for key in keys:
            pipe.xadd(key, message, maxlen=STREAM_MAXLEN, approximate=True)
            count += 1
    pipe.execute()
    return count


def publish_routed_quietly(connection: redis.Redis, routed: list[Routed]) -> None:
    """Publish, logging instead of raising: a board can resync, a routed event must not fail."""
    if not routed:
        return
    try:
        publish_routed(connection, routed)
    except redis.RedisError as exc:
        log.warning("board update not published: %s", exc)
