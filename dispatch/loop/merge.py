"""Merging a duplicate report into its master event (合并)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput
from dispatch.events.lifecycle import (
    EVENT_LABELS,
    OPEN_PARTS,
    AssignmentAction,
    EventAction,
)
from dispatch.events.models import Assignment, Event, EventStatus
from dispatch.events.scopes import event_scope
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step, move_event
from dispatch.loop.parts import move_assignment
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize


def merge(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    into_id: int,
    reason: str | None,
    now: datetime | None = None,
) -> Event:
    """Merge a duplicate report into its master event (合并); its live parts are cancelled."""
    now = now or utcnow()
    if into_id == event_id:
        raise InvalidInput("不能合并到自身", field="into_id")
    # Lock both in id order, so two merges of the same pair queue up instead of deadlocking.
    locked = {i: lock_event(session, i) for i in sorted((event_id, into_id))}
    duplicate, master = locked[event_id], locked[into_id]
    authorize(actor, Action.MERGE, event=event_scope(session, duplicate))
    if master.status in (EventStatus.MERGED, EventStatus.INVALID):
        raise InvalidInput(
            f"主事件 {into_id} 为「{EVENT_LABELS[master.status]}」，不能作为合并目标",
            field="into_id",
        )
    move_event(
        session,
        duplicate,
        EventAction.MERGE,
        actor=user,
        at=now,
        reason=reason or f"与事件 {into_id} 重复",
        data={"into": into_id},
    )
    duplicate.merged_into_id = into_id
    for assignment in session.exec(
        select(Assignment).where(
            Assignment.event_id == event_id,
            col(Assignment.status).in_(OPEN_PARTS),
        )
    ).all():
        move_assignment(
            session,
            duplicate,
            assignment,
            AssignmentAction.CANCEL,
            user=user,
            now=now,
            reason=f"事件已合并到 {into_id}",
        )
    add_step(
        session,
        master,
        action="merged_in",
        actor=user,
        at=now,
        reason=f"合并重复上报的事件 {event_id}",
        data={"from": event_id},
    )
    return duplicate
