"""Deadline warnings: yellow when 70% of an assignment's time is used, red when it is overdue.

The scheduler calls `raise_deadline_alerts` every few seconds. Each warning is raised once
per assignment and deadline (the alert columns remember how far it went) and recorded as a
step, so it reaches the boards like every other change. A round reads only the parts whose
next warning is due (`events.deadlines`), never every live part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlmodel import Session, col

from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.events.deadlines import WARNING_SHARE, Deadline, key_reached, live
from dispatch.events.models import Assignment, AssignmentStatus
from dispatch.events.steps import add_system_steps
from dispatch.supervision.batch import department_names, events_by_id

YELLOW_SHARE = WARNING_SHARE
_KINDS: tuple[Deadline, ...] = ("sign", "handle")
_COLUMNS = (
    col(Assignment.id),
    col(Assignment.event_id),
    col(Assignment.department_id),
    col(Assignment.status),
    col(Assignment.created_at),
    col(Assignment.sign_by),
    col(Assignment.handle_by),
    col(Assignment.sign_alert),
    col(Assignment.handle_alert),
)
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


def raise_deadline_alerts(
    session: Session, *, now: datetime | None = None, limit: int | None = None
) -> list[Alert]:
    """Raise every warning now due on live assignments; each is raised only once.

    Set-based: a query per deadline reads the parts whose due key has been reached
    (events.deadlines, on its partial index), locked, skipping those another transaction
    holds; their events and departments' names are read once; the levels are written by
    primary key in one statement per deadline, and the steps in one multi-row INSERT. With
    a limit, at most that many parts are looked at (the next call takes the rest).
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    parts: dict[int, Row[Any]] = {}
    for kind in _KINDS:
        # One query per deadline, so that each is one range on its index; no ORDER BY, which
        # could lead the planner to walk the primary key instead.
        due = (
            select(*_COLUMNS)
            .where(
                live(kind),
                key_reached(kind, dialect, now),
                getattr(Assignment, f"{kind}_alert") < RED,
            )
            .with_for_update(of=Assignment, skip_locked=True)
        )
        if limit is not None:
            due = due.limit(limit - len(parts))
        parts.update((row.id, row) for row in session.execute(due).all())
        if limit is not None and len(parts) >= limit:
            break
    raised: list[tuple[Alert, int, int, datetime]] = []
    for _, row in sorted(parts.items()):
        for kind in _KINDS:
            if kind == "sign" and row.status != AssignmentStatus.PENDING:
                continue
            deadline = row.sign_by if kind == "sign" else row.handle_by
            if deadline is None:
                continue
            level = alert_level(row.created_at, deadline, now)
            if level > (row.sign_alert if kind == "sign" else row.handle_alert):
                raised.append(
                    (Alert(row.id, kind, level), row.event_id, row.department_id, deadline)
                )
    if raised:
        _record(session, raised, now)
    return [alert for alert, *_ in raised]


def _record(
    session: Session, raised: list[tuple[Alert, int, int, datetime]], now: datetime
) -> None:
    """Write the raised levels by primary key, and a step for each warning."""
    for kind in _KINDS:
        levels = [
            {"id": alert.assignment_id, f"{kind}_alert": alert.level}
            for alert, *_ in raised
            if alert.kind == kind
        ]
        if levels:
            session.execute(update(Assignment), levels)
    events = events_by_id(session, (event_id for _, event_id, _, _ in raised))
    names = department_names(session, (department for _, _, department, _ in raised))
    entries = []
    for alert, event_id, department_id, deadline in raised:
        name = names.get(department_id, str(department_id))
        what = "已超期" if alert.level == RED else "即将超期"
        reason = f"{name} {_KIND_LABELS[alert.kind]}{what}（时限 {beijing_text(deadline)}）"
        entries.append(
            (
                events[event_id],
                {
                    "action": _LEVEL_ACTIONS[alert.level],
                    "assignment_id": alert.assignment_id,
                    "to_org": name,
                    "reason": reason,
                    "data": {"deadline": alert.kind, "level": alert.level},
                },
            )
        )
    add_system_steps(session, entries, at=now)
