"""Publishing: the cards of a committed transaction reach the boards after commit."""

from __future__ import annotations

import redis
from sqlalchemy import event as sa_event
from sqlmodel import Session

from dispatch.boards.cards import board_messages
from dispatch.boards.streams import BoardMessage, publish_quietly
from dispatch.events.models import Event, Step

_NOTED = "sipingtai.board.noted"
_OUTBOX = "sipingtai.board.outbox"
_PUBLISHER = "sipingtai.board.publisher"


# ---- Noting changes in the session, publishing them after commit ------------------------


def note_step(session: Session, event: Event, step: Step) -> None:
    """Remember that this transaction changed the event (called by add_step)."""
    if _PUBLISHER not in session.info:
        return  # nobody will publish: skip the bookkeeping (imports, CLI, plain tests)
    assert event.id is not None
    noted: dict[int, tuple[Event, list[Step]]] = session.info.setdefault(_NOTED, {})
    noted.setdefault(event.id, (event, []))[1].append(step)


def publish_after_commit(session: Session, connection: redis.Redis | None) -> None:
    """Have this session publish the changes it commits to the boards, through connection."""
    if connection is not None:
        session.info[_PUBLISHER] = connection


@sa_event.listens_for(Session, "before_commit")
def _cards_before_commit(session: Session) -> None:
    noted: dict[int, tuple[Event, list[Step]]] | None = session.info.pop(_NOTED, None)
    if not noted or _PUBLISHER not in session.info:
        return
    session.flush()  # steps get their ids
    messages = board_messages(session, list(noted.values()))
    session.info.setdefault(_OUTBOX, []).extend(messages)


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    outbox: list[BoardMessage] | None = session.info.pop(_OUTBOX, None)
    connection = session.info.get(_PUBLISHER)
    if outbox and connection is not None:
        publish_quietly(connection, outbox)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_NOTED, None)
    session.info.pop(_OUTBOX, None)
