"""Steps: the append-only timeline (流转记录), and event transitions recorded as steps."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.outbox import outbox_of
from dispatch.events.lifecycle import (
    ASSIGNMENT_ACTION_LABELS,
    EVENT_ACTION_LABELS,
    EventAction,
    next_event_status,
)
from dispatch.events.models import Assignment, Event, Step
from dispatch.users.models import User
from dispatch.users.policy import ROLE_LABELS

# Every step's name as the timeline shows it: the transitions' actions, and the steps that
# are not transitions (a report, a dispatch, a photo, a merge, a deadline warning).
STEP_ACTION_LABELS: dict[str, str] = {
    "report": "上报",
    "dispatch": "派单",
    "attach": "上传照片",
    "merged_in": "并入",
    "deadline_near": "临期预警",
    "overdue": "超期",
    "extension_requested": "申请延期",
    "extension_approved": "批准延期",
    "extension_refused": "不予延期",
    "extension_lapsed": "延期申请失效",
    "escalate": "乡呼县应",
    "answer_escalation": "县应（移交部门）",
    "dispute_open": "发起争议",
    "dispute_rule": "裁定争议",
    "supervise": "督办",
    "supervision_reply": "回复督办",
    "supervision_closed": "督办关闭",
    **{action.value: label for action, label in EVENT_ACTION_LABELS.items()},
    **{action.value: label for action, label in ASSIGNMENT_ACTION_LABELS.items()},
}


def add_step(
    session: Session,
    event: Event,
    *,
    action: str,
    actor: User | None = None,
    actor_label: str | None = None,
    assignment: Assignment | None = None,
    from_org: str | None = None,
    to_org: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, object] | None = None,
    at: datetime | None = None,
) -> Step:
    """Append one entry to the event's timeline: the actor by display name, its role in data."""
    assert event.id is not None
    if actor is not None:
        data = {**(data or {}), "actor_role": actor.role.value}
    step = Step(
        event_id=event.id,
        assignment_id=assignment.id if assignment else None,
        at=at or utcnow(),
        action=action,
        actor_id=actor.id if actor else None,
        actor=actor_label or (actor.display_name or ROLE_LABELS[actor.role] if actor else "系统"),
        from_org=from_org,
        to_org=to_org,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data,
    )
    session.add(step)
    outbox_of(session).note_step(step, event)
    return step


def move_event(
    session: Session,
    event: Event,
    action: EventAction,
    *,
    actor: User | None = None,
    at: datetime | None = None,
    reason: str | None = None,
    data: dict[str, object] | None = None,
) -> None:
    """Apply one event transition from the table and record it as a step."""
    before = event.status
    event.status = next_event_status(before, action)
    event.updated_at = at or utcnow()
    add_step(
        session,
        event,
        action=action.value,
        actor=actor,
        from_status=before,
        to_status=event.status,
        reason=reason,
        data=data,
        at=at,
    )
    session.add(event)
