"""Events: intake, the routing job's work, reading them back with their timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from dispatch.boards import note_step
from dispatch.errors import InvalidInput, NotFound
from dispatch.lifecycle import EventAction, next_event_status
from dispatch.models import (
    Assignment,
    AssignmentStatus,
    Department,
    Event,
    EventStatus,
    Step,
    User,
    utcnow,
)
from dispatch.router import Placement, Router
from dispatch.routing import RoutingDecision, TimeLimits
from dispatch.schemas import EventCreate, Urgency
from dispatch.workcalendar import CHINA_TZ, WorkCalendar, deadline
from geo.index import Location
from geo.levels import Level

# A phone's clock may run a little fast; more than this in the future is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=10)


def as_aware(moment: datetime) -> datetime:
    """Read a naive time as China time (what a county's phones and forms mean)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


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


def find_by_client_id(session: Session, client_id: str) -> Event | None:
    """Return the event a phone already reported under this client id."""
    return session.exec(select(Event).where(Event.client_id == client_id)).first()


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
            f"上报时间 {reported_at.isoformat()} 晚于当前时间 (reported_at is in the future)",
            field="reported_at",
        )
    placement = router.locate(report.lon, report.lat, report.crs)
    location = placement.location
    if not location.chain:
        where = f"({report.lon}, {report.lat}, {report.crs.value})"
        raise InvalidInput(f"{location.reason or '坐标不在任何辖区内'}: {where}", field="lon")
    county = location.at(Level.COUNTY)
    if report.matter_code is not None:
        rules, _ = router.rules_for(session, county.code if county else None, now)
        if rules is None or rules.get(report.matter_code) is None:
            raise InvalidInput(
                f"事项编码「{report.matter_code}」不在现行责任清单中 (unknown matter code)",
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
        reason=f"{report.source.value} 上报",
        at=now,
    )
    if report.handled_on_site:
        move_event(
            session,
            event,
            EventAction.HANDLE_ON_SITE,
            actor=reporter,
            at=now,
            reason="即报即办: 现场已处置，待核查",
        )
        event.matter_code = report.matter_code
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
    """Append one entry to the event's timeline."""
    assert event.id is not None
    step = Step(
        event_id=event.id,
        assignment_id=assignment.id if assignment else None,
        at=at or utcnow(),
        action=action,
        actor_id=actor.id if actor else None,
        actor=actor_label or (actor.display_name or actor.username if actor else "系统"),
        from_org=from_org,
        to_org=to_org,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data,
    )
    session.add(step)
    note_step(session, event, step)
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


# ---- The routing job's work --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Routed:
    """What routing one event produced, for the board and for delivery after commit."""

    event_id: int
    outcome: str
    assignment_ids: tuple[int, ...]
    township_code: str | None = None
    matter_code: str | None = None
    department_ids: tuple[int, ...] = ()


def waiting_for_routing(session: Session, *, older_than: datetime, limit: int) -> list[int]:
    """Return ids of committed events still waiting for the routing job (for the sweeper)."""
    query = (
        select(Event.id)
        .where(Event.status == EventStatus.REPORTED, col(Event.received_at) <= older_than)
        .order_by(col(Event.id))
        .limit(limit)
    )
    return [i for i in session.exec(query) if i is not None]


def route_events(
    session: Session,
    router: Router,
    calendar: WorkCalendar,
    event_ids: Sequence[int],
    *,
    now: datetime | None = None,
) -> list[Routed]:
    """Route each event still waiting; events already routed are skipped, so reruns are harmless.

    Rows are locked (FOR UPDATE SKIP LOCKED on PostgreSQL) so two workers never route the
    same event at once; the assignment unique constraint backs this up.
    """
    now = now or utcnow()
    query = (
        select(Event)
        .where(col(Event.id).in_(list(event_ids)), Event.status == EventStatus.REPORTED)
        .order_by(col(Event.id))
        .with_for_update(skip_locked=True)
    )
    results: list[Routed] = []
    for event in session.exec(query).all():
        location = router.index.locate(event.lon, event.lat)
        decision = router.decide_at(
            session,
            location,
            matter_code=event.reported_matter_code,
            description=event.description,
            urgent=event.urgent,
            at=event.received_at,
        )
        results.append(apply_decision(session, event, decision, calendar, now=now))
    return results


def apply_decision(
    session: Session,
    event: Event,
    decision: RoutingDecision,
    calendar: WorkCalendar,
    *,
    now: datetime,
    actor: User | None = None,
    action: EventAction = EventAction.ROUTE,
    reason: str | None = None,
) -> Routed:
    """Dispatch the assignments of a routed decision, or send the event to triage."""
    assert event.id is not None
    event.routing = decision.to_dict()
    event.routed_at = now
    if not decision.routed:
        move_event(
            session,
            event,
            EventAction.NEED_TRIAGE,
            actor=actor,
            at=now,
            reason="；".join(decision.triage_reasons),
            data={"suggestions": [s.code for s in decision.suggestions]},
        )
        return Routed(event.id, EventStatus.NEEDS_TRIAGE, (), event.township_code)
    assert decision.matter is not None
    event.matter_code = decision.matter.code
    event.matter_list_id = decision.matter.list_id
    event.platform_code = decision.platform.code if decision.platform else None
    sign_by, handle_by = deadlines(calendar, now, decision.limits)
    event.sign_by, event.handle_by = sign_by, handle_by
    move_event(
        session,
        event,
        action,
        actor=actor,
        at=now,
        reason=reason or "\n".join(decision.reasons),
        data={"matter": decision.matter.code, "list_version": decision.matter.list_version},
    )
    created = create_assignments(session, event, decision, sign_by, handle_by, now=now)
    return Routed(
        event.id,
        event.status,
        tuple(a.id for a in created if a.id is not None),
        event.township_code,
        event.matter_code,
        tuple(a.department_id for a in created),
    )


def create_assignments(
    session: Session,
    event: Event,
    decision: RoutingDecision,
    sign_by: datetime | None,
    handle_by: datetime | None,
    *,
    now: datetime,
    round_: int = 1,
) -> list[Assignment]:
    """Insert one assignment per planned part; the unique constraint refuses a second copy."""
    assert event.id is not None
    created = []
    for plan in decision.assignments:
        assignment = Assignment(
            event_id=event.id,
            department_id=plan.department_id,
            role=plan.role,
            round=round_,
            status=AssignmentStatus.PENDING,
            on_behalf_of_id=plan.on_behalf_of_id,
            duties=list(plan.duties),
            duties_text=plan.duties_text,
            sign_by=sign_by,
            handle_by=handle_by,
            created_at=now,
        )
        session.add(assignment)
        created.append(assignment)
    session.flush()
    for assignment, plan in zip(created, decision.assignments, strict=True):
        add_step(
            session,
            event,
            action="dispatch",
            assignment=assignment,
            from_org=decision.township.name if decision.township else None,
            to_org=plan.department_name,
            to_status=AssignmentStatus.PENDING,
            reason=f"{_ROLE_LABELS[plan.role]}: {plan.department_name}",
            at=now,
        )
    return created


_ROLE_LABELS = {"lead": "牵头", "co": "协办", "territorial": "属地"}


def deadlines(
    calendar: WorkCalendar, start: datetime, limits: TimeLimits | None
) -> tuple[datetime | None, datetime | None]:
    """Return sign-by and handle-by for the limits of a decision, on the work calendar."""
    if limits is None:
        return None, None
    start = as_aware(start).astimezone(CHINA_TZ)
    sign_by = deadline(calendar, start, hours=limits.sign_hours) if limits.sign_hours else None
    if limits.handle_hours:
        handle_by = deadline(calendar, start, hours=limits.handle_hours)
    elif limits.handle_days:
        handle_by = deadline(calendar, start, working_days=limits.handle_days)
    else:
        handle_by = None
    return _utc(sign_by), _utc(handle_by)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None


# ---- Reading back ------------------------------------------------------------------------


def event_assignments(session: Session, event_id: int) -> list[tuple[Assignment, str, str | None]]:
    """Return the event's assignments with department and on-behalf-of names."""
    rows = session.exec(
        select(Assignment, Department.name)
        .join(Department, col(Department.id) == col(Assignment.department_id))
        .where(Assignment.event_id == event_id)
        .order_by(col(Assignment.id))
    ).all()
    parents = {
        d.id: d.name
        for d in session.exec(
            select(Department).where(
                col(Department.id).in_([a.on_behalf_of_id for a, _ in rows if a.on_behalf_of_id])
            )
        )
    }
    return [(a, name, parents.get(a.on_behalf_of_id or -1)) for a, name in rows]


def event_steps(session: Session, event_id: int) -> list[Step]:
    """Return the event's timeline, oldest first."""
    return list(
        session.exec(
            select(Step).where(Step.event_id == event_id).order_by(col(Step.at), col(Step.id))
        )
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a list of events may be narrowed by."""

    status: str | None = None
    township_code: str | None = None
    department_id: int | None = None
    matter_code: str | None = None
    platform_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    visible_townships: frozenset[str] | None = None
    visible_departments: frozenset[int] | None = None


def list_events(
    session: Session, where: EventFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[Event], int]:
    """Return one page of events, newest first, and how many match in all."""
    query = select(Event)
    if where.status:
        query = query.where(Event.status == where.status)
    if where.township_code:
        query = query.where(Event.township_code == where.township_code)
    if where.matter_code:
        query = query.where(Event.matter_code == where.matter_code)
    if where.platform_code:
        query = query.where(Event.platform_code == where.platform_code)
    if where.since:
        query = query.where(col(Event.received_at) >= where.since)
    if where.until:
        query = query.where(col(Event.received_at) < where.until)
    if where.visible_townships is not None:
        query = query.where(col(Event.township_code).in_(sorted(where.visible_townships)))
    departments = _department_filter(where)
    if departments is not None:
        has_assignment = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(departments))
        )
        query = query.where(col(Event.id).in_(has_assignment))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Event.received_at).desc(), col(Event.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(page), int(total)


def _department_filter(where: EventFilter) -> frozenset[int] | None:
    if where.department_id is None:
        return where.visible_departments
    if where.visible_departments is None:
        return frozenset({where.department_id})
    return where.visible_departments & {where.department_id}


def location_for_triage(router: Router, code: str) -> Location:
    """Return the location of a jurisdiction the command centre chose by hand."""
    return router.location_of(code)
