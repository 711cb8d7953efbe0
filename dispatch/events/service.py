"""Events: reading one, locking one, listing them with filters (intake is in intake.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, not_, or_, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import NotFound
from dispatch.events.lifecycle import overdue
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.reference.departments import with_units
from dispatch.routing.router import Router
from geo.index import Location


def get_event(session: Session, event_id: int) -> Event:
    """Return the event or raise NotFound."""
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"事件 {event_id} 不存在", field="event_id")
    return event


def lock_event(session: Session, event_id: int) -> Event:
    """Return the event read afresh and locked for this transaction, or raise NotFound.

    Every transition locks the rows it changes (FOR UPDATE on PostgreSQL; SQLite has one
    writer at a time), so of two people acting at once the second waits, reads what the
    first committed, and is refused by the state machine: two clicks, one win.
    """
    event = session.exec(
        select(Event)
        .where(Event.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if event is None:
        raise NotFound(f"事件 {event_id} 不存在", field="event_id")
    return event


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a list of events may be narrowed by."""

    statuses: frozenset[str] | None = None
    township_code: str | None = None
    # Events where this department (or one of its stationed units) holds a part.
    department_id: int | None = None
    matter_code: str | None = None
    platform_code: str | None = None
    overdue: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Case-insensitive substring of the description or the address.
    text: str | None = None
    visible_townships: frozenset[str] | None = None
    visible_departments: frozenset[int] | None = None
    visible_reporter_id: int | None = None


def event_conditions(
    session: Session, where: EventFilter, *, now: datetime | None = None
) -> list[ColumnElement[bool]]:
    """Return the conditions an event must meet to be in the filtered list (the ledger's too)."""
    conditions: list[ColumnElement[bool]] = []
    if where.statuses:
        conditions.append(col(Event.status).in_(sorted(where.statuses)))
    if where.township_code:
        conditions.append(col(Event.township_code) == where.township_code)
    if where.matter_code:
        conditions.append(col(Event.matter_code) == where.matter_code)
    if where.platform_code:
        conditions.append(col(Event.platform_code) == where.platform_code)
    if where.since:
        conditions.append(col(Event.received_at) >= where.since)
    if where.until:
        conditions.append(col(Event.received_at) < where.until)
    if where.overdue is not None:
        late = overdue(now or utcnow())
        conditions.append(late if where.overdue else not_(late))
    if where.text:
        conditions.append(_contains_text(where.text))
    if where.visible_townships is not None:
        in_townships: ColumnElement[bool] = col(Event.township_code).in_(
            sorted(where.visible_townships)
        )
        if where.visible_reporter_id is not None:
            in_townships = or_(in_townships, col(Event.reporter_id) == where.visible_reporter_id)
        conditions.append(in_townships)
    if where.visible_departments is not None:
        seen = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(where.visible_departments))
        )
        conditions.append(col(Event.id).in_(seen))
    if where.department_id is not None:
        holding = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(with_units(session, where.department_id))),
            col(Assignment.status) != AssignmentStatus.CANCELLED,
        )
        conditions.append(col(Event.id).in_(holding))
    return conditions


def list_events(
    session: Session,
    where: EventFilter,
    *,
    offset: int = 0,
    limit: int = 50,
    now: datetime | None = None,
) -> tuple[list[Event], int]:
    """Return one page of events, newest first, and how many match in all."""
    query = select(Event).where(*event_conditions(session, where, now=now))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Event.received_at).desc(), col(Event.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(page), int(total)


def _contains_text(text: str) -> ColumnElement[bool]:
    """Match text anywhere in the description or the address, ignoring case, literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # Both sides folded by the database's own lower(), so they fold alike.
    pattern = func.lower(f"%{escaped}%")
    return or_(
        func.lower(col(Event.description)).like(pattern, escape="\\"),
        func.lower(func.coalesce(col(Event.address), "")).like(pattern, escape="\\"),
    )


def location_for_triage(router: Router, code: str) -> Location:
    """Return the location of a jurisdiction the command centre chose by hand."""
    return router.location_of(code)
