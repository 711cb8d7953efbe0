"""Intake: a report stored once per client_id, located now, its routing left to the job.

`report_event` takes one report (the demo history, tests); `report_events` takes a batch that
shares one transaction (the API's group commit): one query for the client ids already known,
one multi-row INSERT for the events and one for their steps. Both check a report the same
way, and a report refused in a batch is refused alone: the others are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.core.errors import DomainError, InvalidInput
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import EventAction
from dispatch.events.models import Event, EventStatus
from dispatch.events.schemas import SOURCE_LABELS, EventCreate, Urgency
from dispatch.events.steps import add_step, move_event
from dispatch.routing.router import Placement, Router
from dispatch.users.models import User
from geo.levels import Level

# A phone's clock may run a little fast; more than this in the future is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Intake:
    """The stored event and whether this request created it (False: a repeat client_id)."""

    event: Event
    created: bool


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
    event, township = _new_event(session, router, report, client_id, reporter, now)
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
    _record_intake(session, event, township, report, reporter, now)
    return Intake(event, created=True)


Reported = tuple[EventCreate, User | None]


def report_events(
    session: Session, router: Router, reports: Sequence[Reported], *, now: datetime | None = None
) -> list[Intake | DomainError]:
    """Store a batch of reports in the session's transaction; each one's outcome, in order.

    A report refused by the checks gets its error and the rest go on. A client_id already
    stored, or repeated within the batch, answers with the event it made. If another
    transaction stores one of these client_ids first, the flush raises IntegrityError and
    the caller runs the batch again (this query then finds the winner).
    """
    now = now or utcnow()
    client_ids = [str(report.client_id) for report, _ in reports]
    known = {
        e.client_id: e
        for e in session.exec(select(Event).where(col(Event.client_id).in_(set(client_ids))))
    }
    outcomes: list[Intake | DomainError] = []
    fresh: list[tuple[Event, str | None, EventCreate, User | None]] = []
    for (report, reporter), client_id in zip(reports, client_ids, strict=True):
        found = known.get(client_id)
        if found is not None:
            outcomes.append(Intake(found, created=False))
            continue
        try:
            event, township = _new_event(session, router, report, client_id, reporter, now)
        except DomainError as refused:
            outcomes.append(refused)
            continue
        known[client_id] = event  # a repeat later in this batch answers with this event
        fresh.append((event, township, report, reporter))
        outcomes.append(Intake(event, created=True))
    if fresh:
        session.add_all([event for event, *_ in fresh])
        session.flush()  # one INSERT … RETURNING for the batch (SQLAlchemy's insertmanyvalues)
        for event, township, report, reporter in fresh:
            _record_intake(session, event, township, report, reporter, now)
    return outcomes


def _record_intake(
    session: Session,
    event: Event,
    township: str | None,
    report: EventCreate,
    reporter: User | None,
    now: datetime,
) -> None:
    """Write the report's step; hand it to routing, or record it as handled on the spot."""
    assert event.id is not None
    add_step(
        session,
        event,
        action="report",
        actor=reporter,
        to_org=township,
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


def _new_event(
    session: Session,
    router: Router,
    report: EventCreate,
    client_id: str,
    reporter: User | None,
    now: datetime,
) -> tuple[Event, str | None]:
    """Check a report (time, place, matter); return its event, not yet added, and township."""
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
    township = location.at(Level.TOWNSHIP)
    event = _event_of(report, client_id, reported_at, placement, reporter, now)
    return event, township.name if township else None


def _event_of(
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
