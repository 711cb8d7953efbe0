"""The township's part after handling: verify on site, close, and the follow-up rating."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.errors import Conflict, InvalidInput
from dispatch.events.lifecycle import (
    HANDLING,
    AssignmentAction,
    EventAction,
)
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.events.scopes import event_scope
from dispatch.events.service import lock_event
from dispatch.events.steps import move_event
from dispatch.loop.parts import (
    department_name,
    every_part_fed_back,
    live_parts,
    lock_assignment,
    move_assignment,
    required_text,
    resolve_if_done,
)
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize


def verify(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    passed: bool,
    note: str | None,
    now: datetime | None = None,
) -> Event:
    """Record the township's on-site check (核查); a failure sends the handlers back to work."""
    now = now or utcnow()
    event = lock_event(session, event_id)
    authorize(actor, Action.VERIFY, event=event_scope(session, event))
    if passed:
        if not every_part_fed_back(session, event):
            # Only rows from before the territorial part was awaited can be here.
            raise Conflict("尚有任务未反馈，请待其反馈或关闭后再核查", field="status")
        move_event(
            session,
            event,
            EventAction.VERIFY_PASS,
            actor=user,
            at=now,
            reason=note or "现场核查通过",
        )
        return event
    note = required_text(note, "note", "核查不通过的说明")
    move_event(session, event, EventAction.VERIFY_FAIL, actor=user, at=now, reason=note)
    event.rework_count += 1
    _send_back_to_work(session, event, user, now, note)
    return event


def _send_back_to_work(session: Session, event: Event, user: User, now: datetime, why: str) -> None:
    for assignment in live_parts(session, event):
        if assignment.status == AssignmentStatus.FED_BACK:
            move_assignment(
                session,
                event,
                assignment,
                AssignmentAction.REWORK,
                user=user,
                now=now,
                to_org=department_name(session, assignment.department_id),
                reason=f"重办: {why}",
            )


def close_part(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Close a part that no longer applies (the verifier's call, with the reason why).

    The lead's part is not closable: a lead who holds the event wrongly returns it to the
    command centre instead. Closing the last open part resolves the event.
    """
    now = now or utcnow()
    reason = required_text(reason, "reason", "关闭任务的理由")
    assignment, event = lock_assignment(session, assignment_id)
    authorize(actor, Action.VERIFY, event=event_scope(session, event))
    if assignment.role == AssignmentRole.LEAD:
        raise InvalidInput(
            "牵头任务不能由核查人关闭；如非其职责，应由牵头单位退回", field="assignment_id"
        )
    if event.status not in (*HANDLING, EventStatus.RESOLVED):
        raise Conflict("事件已不在处置中，不能关闭其中的任务", field="status")
    name = department_name(session, assignment.department_id)
    move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.CLOSE_PART,
        user=user,
        now=now,
        from_org=name,
        reason=f"任务不再适用，由核查人关闭：{reason}",
    )
    resolve_if_done(session, event, user, now)
    return assignment


def close(
    session: Session, actor: Actor, user: User, event_id: int, *, now: datetime | None = None
) -> Event:
    """Close a verified event (办结)."""
    now = now or utcnow()
    event = lock_event(session, event_id)
    authorize(actor, Action.CLOSE, event=event_scope(session, event))
    move_event(session, event, EventAction.CLOSE, actor=user, at=now, reason="办结")
    event.closed_at = now
    return event


UNSATISFIED_BELOW = 3


def rate(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    rating: int,
    note: str | None,
    now: datetime | None = None,
) -> Event:
    """Record the follow-up rating (回访, 1-5); 1 or 2 reopens the event for the handlers."""
    now = now or utcnow()
    if not 1 <= rating <= 5:
        raise InvalidInput(f"评分应为 1-5，收到 {rating}", field="rating")
    event = lock_event(session, event_id)
    authorize(actor, Action.RATE, event=event_scope(session, event))
    event.rating = rating
    if rating >= UNSATISFIED_BELOW:
        move_event(
            session,
            event,
            EventAction.RATE_SATISFIED,
            actor=user,
            at=now,
            reason=note or f"回访评分 {rating}",
            data={"rating": rating},
        )
        return event
    why = required_text(note, "note", "不满意的原因")
    move_event(
        session,
        event,
        EventAction.RATE_UNSATISFIED,
        actor=user,
        at=now,
        reason=why,
        data={"rating": rating},
    )
    event.rework_count += 1
    event.closed_at = None
    _send_back_to_work(session, event, user, now, why)
    return event
