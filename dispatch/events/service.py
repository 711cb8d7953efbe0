"""Events: intake, reading one, listing them with filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, not_, or_, select

from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.core.errors import InvalidInput, NotFound
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import EventAction, overdue
from dispatch.events.models import Assignment, AssignmentStatus, Event, EventStatus
from dispatch.events.schemas import SOURCE_LABELS, EventCreate, Urgency
from dispatch.events.steps import add_step, move_event
from dispatch.reference.departments import with_units
from dispatch.routing.router import Placement, Router
from dispatch.users.models import User
from geo.index import Location
from geo.levels import Level

# A phone's clock may run a little fast; more than this in the future is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Intake:
    """The stored event and whether this request created it (False: a repeat client_id)."""

    event: Event
    created: bool


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


def find_by_client_id(session: Session, client_id: str) -> Event | None:
    """Return the event a phone already reported under this client id."""
    return session.exec(select(Event).where(Event.client_id == client_id)).first()


def on_site_reason(note: str | None) -> str:
    """Return the step reason of a report handled on the spot, with what was done."""
    done = "即报即办: 现场已处置，待核查"
    return f"{done}。处置情况：{note}" if note else done


def report_event(
    session: Session,
    router: Router,
    report: EventCreate,
    *,
    reporter: User | None = None,
    now: datetime | None = None,
) -> Intake:
    """Store a report once per client_id; locate it now, leave routing to the job."""
    client_id = str(report.client_id)
    existing = find_by_client_id(session, client_id)
    if existing is not None:
        return Intake(existing, created=False)
    now = now or utcnow()
    reported_at = as_aware(report.reported_at)
    if reported_at > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"上报时间 {beijing_text(reported_at)} 晚于当前时间",
            code="in_the_future",
            field="reported_at",
        )
    placement = router.locate(report.lon, report.lat, report.crs)
    location = placement.location
    if not location.chain:
        where = f"（经度 {report.lon}，纬度 {report.lat}）"
        raise InvalidInput(
            f"{location.reason or '坐标不在任何辖区内'}{where}",
            field="lon",
            code="outside_jurisdiction",
        )
    county = location.at(Level.COUNTY)
    if report.matter_code is not None:
        rules, _ = router.rules_for(session, county.code if county else None, now)
        if rules is None or rules.get(report.matter_code) is None:
            raise InvalidInput(
                f"事项编码「{report.matter_code}」不在现行责任清单中",
                code="unknown_matter",
                field="matter_code",
            )
    event = _new_event(report, client_id, reported_at, placement, reporter, now)
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same client_id won the insert: answer with its event.
        winner = find_by_client_id(session, client_id)
        if winner is None:
            raise
        return Intake(winner, created=False)
    assert event.id is not None
    township = location.at(Level.TOWNSHIP)
    add_step(
        session,
        event,
        action="report",
        actor=reporter,
        to_org=township.name if township else None,
        to_status=EventStatus.REPORTED,
        reason=f"{SOURCE_LABELS[report.source]}上报",
        at=now,
    )
    if report.handled_on_site:
        move_event(
            session,
            event,
            EventAction.HANDLE_ON_SITE,
            actor=reporter,
            at=now,
            reason=on_site_reason(report.on_site_note),
        )
        event.matter_code = report.matter_code
    else:
        outbox_of(session).hand_off(Handoff.ROUTING, [event.id])
    return Intake(event, created=True)


def _new_event(
    report: EventCreate,
    client_id: str,
    reported_at: datetime,
    placement: Placement,
    reporter: User | None,
    now: datetime,
) -> Event:
    location = placement.location

    def code(level: Level) -> str | None:
        found = location.at(level)
        return found.code if found else None

    near = location.near_boundary
    return Event(
        client_id=client_id,
        status=EventStatus.REPORTED,
        source=report.source.value,
        reported_at=reported_at,
        received_at=now,
        reporter_id=reporter.id if reporter else None,
        raw_lon=report.lon,
        raw_lat=report.lat,
        crs=report.crs.value,
        lon=placement.wgs84_lon,
        lat=placement.wgs84_lat,
        address=report.address,
        description=report.description,
        reported_matter_code=report.matter_code,
        urgent=report.urgency is Urgency.URGENT,
        handled_on_site=report.handled_on_site,
        county_code=code(Level.COUNTY),
        township_code=code(Level.TOWNSHIP),
        village_code=code(Level.VILLAGE),
        grid_code=code(Level.GRID),
        near_boundary_code=near.code if near else None,
        updated_at=now,
    )


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
