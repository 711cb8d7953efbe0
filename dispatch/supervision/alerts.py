"""Deadline warnings: yellow when 70% of an assignment's time is used, red when it is overdue.

The scheduler calls `raise_deadline_alerts` every few seconds. Each warning is raised once
per assignment and deadline (the alert columns remember how far it went) and recorded as a
step, so it reaches the boards like every other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, or_, select

from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.events.steps import add_step
from dispatch.reference.models import Department

YELLOW_SHARE = 0.7
NONE, YELLOW, RED = 0, 1, 2
_LEVEL_ACTIONS = {YELLOW: "deadline_near", RED: "overdue"}
_KIND_LABELS = {"sign": "签收", "handle": "办结"}


def alert_level(created: datetime, due: datetime, now: datetime) -> int:
    """Return 0, 1 (yellow: 70% of the time used) or 2 (red: past the deadline)."""
    created, due, now = as_aware(created), as_aware(due), as_aware(now)
    if now >= due:
        return RED
    total = (due - created).total_seconds()
    if total > 0 and (now - created).total_seconds() >= YELLOW_SHARE * total:
        return YELLOW
    return NONE


@dataclass(frozen=True, slots=True)
class Alert:
    """One warning raised: which assignment, which deadline, how far."""

    assignment_id: int
    kind: str
    level: int


def raise_deadline_alerts(session: Session, *, now: datetime | None = None) -> list[Alert]:
    """Raise every warning now due on live assignments; each is raised only once."""
    now = now or utcnow()
    live = session.exec(
        select(Assignment)
        .where(
            col(Assignment.status).in_((AssignmentStatus.PENDING, AssignmentStatus.SIGNED)),
            or_(
                (col(Assignment.sign_alert) < RED) & col(Assignment.sign_by).is_not(None),
                (col(Assignment.handle_alert) < RED) & col(Assignment.handle_by).is_not(None),
            ),
        )
        .order_by(col(Assignment.id))
    ).all()
    raised: list[Alert] = []
    for assignment in live:
        for kind in ("sign", "handle"):
            alert = _check(session, assignment, kind, now)
            if alert is not None:
                raised.append(alert)
    return raised


def _check(session: Session, assignment: Assignment, kind: str, now: datetime) -> Alert | None:
    if kind == "sign" and assignment.status != AssignmentStatus.PENDING:
        return None
    due = assignment.sign_by if kind == "sign" else assignment.handle_by
    reached = getattr(assignment, f"{kind}_alert")
    if due is None:
        return None
    level = alert_level(assignment.created_at, due, now)
    if level <= reached:
        return None
    setattr(assignment, f"{kind}_alert", level)
    session.add(assignment)
    event = session.get(Event, assignment.event_id)
    department = session.get(Department, assignment.department_id)
    assert event is not None and assignment.id is not None
    name = department.name if department else str(assignment.department_id)
    what = "已超期" if level == RED else "即将超期"
    add_step(
        session,
        event,
        action=_LEVEL_ACTIONS[level],
        actor_label="系统",
        assignment=assignment,
        to_org=name,
        reason=f"{name} {_KIND_LABELS[kind]}{what}（时限 {beijing_text(due)}）",
        data={"deadline": kind, "level": level},
        at=now,
    )
    return Alert(assignment.id, kind, level)
