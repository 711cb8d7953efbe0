"""A department's past assignments: every round, every status, searched and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, or_, select

from dispatch.events.came_back import came_back_by_assignment
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event
from dispatch.events.schemas import AssignmentRecord, AssignmentsPublic
from dispatch.reference.models import Department, JurisdictionRow, Matter


@dataclass(frozen=True, slots=True)
class AssignmentFilter:
    """What a department's history may be narrowed by; departments is whose it is."""

    departments: frozenset[int]
    status: AssignmentStatus | None = None
    role: AssignmentRole | None = None
    matter_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


def list_assignments(
    session: Session, where: AssignmentFilter, *, offset: int = 0, limit: int = 50
) -> AssignmentsPublic:
    """Return one page of the departments' assignments, newest first, and how many match."""
    query = (
        select(Assignment, Event)
        .join(Event, col(Event.id) == col(Assignment.event_id))
        .where(col(Assignment.department_id).in_(sorted(where.departments)))
    )
    if where.status is not None:
        query = query.where(Assignment.status == where.status)
    if where.role is not None:
        query = query.where(Assignment.role == where.role)
    if where.matter_code:
        query = query.where(Event.matter_code == where.matter_code)
    if where.since is not None:
        query = query.where(col(Assignment.created_at) >= where.since)
    if where.until is not None:
        query = query.where(col(Assignment.created_at) < where.until)
    if where.text and where.text.strip():
        needle = where.text.strip()
        query = query.where(
            or_(
                *(
                    col(column).icontains(needle, autoescape=True)
                    for column in (
                        Event.description,
                        Event.address,
                        Assignment.feedback,
                        Assignment.return_reason,
                    )
                )
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Assignment.created_at).desc(), col(Assignment.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return AssignmentsPublic(
        data=_records(session, list(rows)), count=int(total), offset=offset, limit=limit
    )


def _records(session: Session, rows: list[tuple[Assignment, Event]]) -> list[AssignmentRecord]:
    """Describe a page of rows, looking up its names and reasons in one query each."""
    departments = {a.department_id for a, _ in rows} | {
        a.on_behalf_of_id for a, _ in rows if a.on_behalf_of_id is not None
    }
    department_names = _names(session, Department.id, Department.name, departments)
    places = _names(
        session,
        JurisdictionRow.code,
        JurisdictionRow.name,
        {e.township_code for _, e in rows if e.township_code},
    )
    matters = _matter_names(session, [e for _, e in rows])
    back = came_back_by_assignment(session, [e.id for _, e in rows if e.id is not None])
    return [
        AssignmentRecord.model_validate(
            {
                **a.model_dump(),
                "department_name": department_names.get(a.department_id, ""),
                "on_behalf_of_name": department_names.get(a.on_behalf_of_id or -1),
                "came_back": back.get(a.id or -1),
                "event_status": e.status,
                "event_description": e.description,
                "event_address": e.address,
                "event_received_at": e.received_at,
                "event_closed_at": e.closed_at,
                "matter_code": e.matter_code,
                "matter_name": matters.get((e.matter_list_id, e.matter_code or "")),
                "township_name": places.get(e.township_code or ""),
            }
        )
        for a, e in rows
    ]


def _names(session: Session, key: Any, name: Any, wanted: set[Any]) -> dict[Any, str]:
    if not wanted:
        return {}
    return dict(session.exec(select(key, name).where(col(key).in_(sorted(wanted)))).all())


def _matter_names(session: Session, events: list[Event]) -> dict[tuple[int | None, str], str]:
    keys = {(e.matter_list_id, e.matter_code) for e in events if e.matter_code}
    list_ids = sorted({k[0] for k in keys if k[0] is not None})
    if not list_ids:
        return {}
    rows = session.exec(
        select(Matter.list_id, Matter.code, Matter.name).where(
            col(Matter.list_id).in_(list_ids), col(Matter.code).in_(sorted({k[1] for k in keys}))
        )
    ).all()
    return {(list_id, code): name for list_id, code, name in rows}
