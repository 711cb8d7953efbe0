"""The one boundary of a unit of work: commit, then hand the outbox on; roll back, drop it.

A request (`service.deps.get_session`) and a job (`dispatch.jobs`) each run their work in
`transaction`. Domain functions only flush and record in the session's outbox
(`dispatch.core.outbox`); here, just before the commit, the steps become board cards and the
delivery hand-offs are narrowed to departments that have a webhook, and just after it the
cards are published and the ids handed to the workers. If anything before or during the
commit fails, the error propagates (the caller answers an error, never a success) and
nothing is handed on. If Redis fails after the commit, the committed change stands: boards
resynchronise, and the scheduler re-offers what was not handed off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from sqlalchemy import Engine
from sqlmodel import Session

from dispatch.boards.cards import board_messages
from dispatch.boards.streams import BoardMessage, publish_quietly
from dispatch.core.outbox import Handoff, Outbox, outbox_of
from dispatch.core.queues import offer_quietly
from dispatch.delivery.webhooks import enqueue_deliveries_quietly, with_webhooks
from dispatch.events.models import Event, Step
from dispatch.events.steps import WrittenStep


@dataclass(frozen=True)
class Prepared:
    """What a committed transaction hands on: board messages and ids for the workers."""

    messages: list[BoardMessage] = field(default_factory=list)
    to_route: list[int] = field(default_factory=list)
    to_deliver: list[int] = field(default_factory=list)


@contextmanager
def transaction(engine: Engine, connection: redis.Redis | None) -> Iterator[Session]:
    """Yield a session; on success prepare the outbox, commit, then hand it on through Redis.

    Objects stay readable after the commit (expire_on_commit=False), so a caller may report
    on what it wrote once the transaction is over. Without a connection the outbox is
    dropped: nothing publishes, and the scheduler picks up what needs a worker.
    """
    with Session(engine, expire_on_commit=False) as session:
        outbox = outbox_of(session)
        try:
            yield session
            prepared = prepare(session, outbox) if connection is not None else Prepared()
            session.commit()
        except BaseException:
            session.rollback()
            outbox.remove_files()
            outbox.clear()
            raise
        outbox.clear()
    if connection is not None:
        hand_on(connection, prepared)


def prepare(session: Session, outbox: Outbox) -> Prepared:
    """Flush, then turn the outbox into what will be handed on after the commit."""
    session.flush()
    changed: list[tuple[Event, list[Step | WrittenStep]]] = []
    for event_id, steps in outbox.steps.items():
        event = outbox.subjects.get(event_id)
        if isinstance(event, Event):
            changed.append((event, [s for s in steps if isinstance(s, Step | WrittenStep)]))
    return Prepared(
        messages=board_messages(session, changed, known_parts=outbox.parts) if changed else [],
        to_route=outbox.ids(Handoff.ROUTING),
        # Boards read the streams; only departments with a webhook need a delivery job.
        to_deliver=with_webhooks(session, outbox.ids(Handoff.DELIVERY)),
    )


def hand_on(connection: redis.Redis, prepared: Prepared) -> None:
    """Publish the cards and hand the ids to the workers; Redis errors are logged, not raised."""
    if prepared.messages:
        publish_quietly(connection, prepared.messages)
    if prepared.to_route:
        offer_quietly(connection, prepared.to_route)
    if prepared.to_deliver:
        enqueue_deliveries_quietly(connection, prepared.to_deliver)
