"""Steps: the append-only timeline (流转记录), and event transitions recorded as steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from dispatch.core.bulk import insert_rows
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
    step = Step(
        **step_values(
            event,
            action=action,
            actor=actor,
            actor_label=actor_label,
            assignment_id=assignment.id if assignment else None,
            from_org=from_org,
            to_org=to_org,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            data=data,
            at=at,
        )
    )
    session.add(step)
    outbox_of(session).note_step(step, event)
    return step


def step_values(
    event: Event,
    *,
    action: str,
    actor: User | None = None,
    actor_label: str | None = None,
    assignment_id: int | None = None,
    from_org: str | None = None,
    to_org: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, object] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Return one timeline entry's column values, as add_step writes them (for add_steps)."""
    assert event.id is not None
    if actor is not None:
        data = {**(data or {}), "actor_role": actor.role.value}
    return {
        "event_id": event.id,
        "assignment_id": assignment_id,
        "at": at or utcnow(),
        "action": action,
        "actor_id": actor.id if actor else None,
        "actor": actor_label
        or (actor.display_name or ROLE_LABELS[actor.role] if actor else "系统"),
        "from_org": from_org,
        "to_org": to_org,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "data": data,
    }


@dataclass(frozen=True, slots=True)
class WrittenStep:
    """A step add_steps wrote: its id and the values stored (step_values), with no ORM object."""

    id: int
    values: dict[str, Any]

    @property
    def event_id(self) -> int:
        """Return the event the step belongs to."""
        return int(self.values["event_id"])

    @property
    def action(self) -> str:
        """Return what happened."""
        return str(self.values["action"])

    def row(self) -> dict[str, Any]:
        """Return the step's columns, its id among them, as Step.model_dump gives them."""
        return {"id": self.id, **self.values}


# Every column a system step (add_system_steps) may set besides its action.
_SYSTEM_STEP_COLUMNS = ("assignment_id", "from_org", "to_org", "reason", "data")


def add_steps(
    session: Session, entries: Sequence[tuple[Event, dict[str, Any]]]
) -> list[WrittenStep]:
    """Append many timeline entries (each event with its step_values) in one INSERT.

    Each step is noted in the outbox with its event, in id order, as add_step notes one.
    Steps are append-only and stored as given, so nothing is read back.
    """
    if not entries:
        return []
    subjects = {event.id: event for event, _ in entries}
    rows = [v for _, v in entries]
    ids = insert_rows(session, Step, rows)
    steps = sorted(
        (WrittenStep(i, row) for i, row in zip(ids, rows, strict=True)), key=lambda s: s.id
    )
    outbox = outbox_of(session)
    for step in steps:
        outbox.note_step(step, subjects[step.event_id])
    return steps


def add_system_steps(
    session: Session, entries: Sequence[tuple[Event, dict[str, Any]]], *, at: datetime
) -> list[WrittenStep]:
    """Append many of the system's steps (actor 系统) in one INSERT, each as add_step would.

    Each entry is an event and its step's action plus any of assignment_id, from_org, to_org,
    reason and data; each step is noted in the outbox with its event, so the boards get it.
    """
    return add_steps(
        session,
        [
            (
                event,
                step_values(
                    event,
                    action=values["action"],
                    at=at,
                    **{name: values.get(name) for name in _SYSTEM_STEP_COLUMNS},
                ),
            )
            for event, values in entries
        ],
    )


def transition_values(
    event: Event,
    action: EventAction,
    *,
    actor: User | None = None,
    at: datetime,
    reason: str | None = None,
    data: dict[str, object] | None = None,
) -> dict[str, Any]:
    """Apply one event transition in memory and return its step's values (for add_steps)."""
    before = event.status
    event.status = next_event_status(before, action)
    event.updated_at = at
    return step_values(
        event,
        action=action.value,
        actor=actor,
        from_status=before,
        to_status=event.status,
        reason=reason,
        data=data,
        at=at,
    )


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
