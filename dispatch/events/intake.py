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
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.core.bulk import insert_many
from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.core.errors import DomainError, InvalidInput
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import EventAction
from dispatch.events.models import Event, EventStatus
from dispatch.events.schemas import SOURCE_LABELS, EventCreate, Urgency
from dispatch.events.steps import add_steps, move_event, step_values
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
    values, township = _new_event_values(session, router, report, client_id, reporter, now)
    event = Event(**values)
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
    outcomes: list[Intake | DomainError | str] = []  # a str: the client_id of a new event
    fresh: dict[str, tuple[dict[str, Any], str | None, EventCreate, User | None]] = {}
    for (report, reporter), client_id in zip(reports, client_ids, strict=True):
        found = known.get(client_id)
        if found is not None:
            outcomes.append(Intake(found, created=False))
            continue
        if client_id in fresh:  # a repeat within this batch answers with the first's event
            outcomes.append(client_id)
            continue
        try:
            values, township = _new_event_values(session, router, report, client_id, reporter, now)
        except DomainError as refused:
            outcomes.append(refused)
            continue
        fresh[client_id] = (values, township, report, reporter)
        outcomes.append(client_id)
    created = _store_fresh(session, list(fresh.values()), now)
    first_seen: set[str] = set()
    answers: list[Intake | DomainError] = []
    for outcome in outcomes:
        if isinstance(outcome, str):
            answers.append(Intake(created[outcome], created=outcome not in first_seen))
            first_seen.add(outcome)
        else:
            answers.append(outcome)
    return answers


def _store_fresh(
    session: Session,
    fresh: list[tuple[dict[str, Any], str | None, EventCreate, User | None]],
    now: datetime,
) -> dict[str, Event]:
    """Insert the batch's new events and their report steps in one INSERT each; by client_id.

    A report handled on the spot also moves its event at once (a second step), which the
    ORM's path does for each such report; they are few.
    """
    if not fresh:
        return {}
    events = {e.client_id: e for e in insert_many(session, Event, [f[0] for f in fresh])}
    steps: list[tuple[Event, dict[str, Any]]] = []
    routing: list[int] = []
    for values, township, report, reporter in fresh:
        event = events[values["client_id"]]
        assert event.id is not None
        if report.handled_on_site:
            _record_intake(session, event, township, report, reporter, now)
            continue
        steps.append((event, _report_step(event, township, report, reporter, now)))
        routing.append(event.id)
    add_steps(session, steps)
    outbox_of(session).hand_off(Handoff.ROUTING, routing)
    return events


def _report_step(
    event: Event, township: str | None, report: EventCreate, reporter: User | None, now: datetime
) -> dict[str, Any]:
    """Return the column values of a report's step (both intake paths write it so)."""
    return step_values(
        event,
        action="report",
        actor=reporter,
        to_org=township,
        to_status=EventStatus.REPORTED,
        reason=f"{SOURCE_LABELS[report.source]}上报",
        at=now,
    )


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
    add_steps(session, [(event, _report_step(event, township, report, reporter, now))])
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


def _new_event_values(
    session: Session,
    router: Router,
    report: EventCreate,
    client_id: str,
    reporter: User | None,
    now: datetime,
) -> tuple[dict[str, Any], str | None]:
    """Check a report (time, place, matter); return its event's columns and its township."""
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
    values = _event_values(report, client_id, reported_at, placement, reporter, now)
    return values, township.name if township else None


def _event_values(
    report: EventCreate,
    client_id: str,
    reported_at: datetime,
    placement: Placement,
    reporter: User | None,
    now: datetime,
) -> dict[str, Any]:
    """Return a new event's column values (every column but its id)."""
    location = placement.location

    def code(level: Level) -> str | None:
        found = location.at(level)
        return found.code if found else None

    near = location.near_boundary
    return dict(
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
        matter_code=None,
        matter_list_id=None,
        platform_code=None,
        routing=None,
        routed_at=None,
        sign_by=None,
        handle_by=None,
        closed_at=None,
        rating=None,
        rework_count=0,
        merged_into_id=None,
    )
