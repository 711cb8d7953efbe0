"""Dispatch: turning a routing decision into assignments, with deadlines on the work calendar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import CHINA_TZ, as_aware, utcnow
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import PART_ROLE_LABELS, EventAction
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.events.steps import add_step, move_event
from dispatch.reference.calendar import WorkCalendar, deadline
from dispatch.routing.decide import RoutingDecision, TimeLimits
from dispatch.routing.router import Router
from dispatch.users.models import User

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
            role=AssignmentRole(plan.role),
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
            reason=f"{PART_ROLE_LABELS[AssignmentRole(plan.role)]}: {plan.department_name}",
            at=now,
        )
    outbox_of(session).hand_off(Handoff.DELIVERY, [a.id for a in created if a.id is not None])
    return created


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
