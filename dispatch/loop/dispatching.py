"""Dispatch: turning a routing decision into assignments, with deadlines on the work calendar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from dispatch.core.bulk import insert_many
from dispatch.core.clock import CHINA_TZ, as_aware, utcnow
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import PART_ROLE_LABELS, EventAction
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.events.steps import add_steps, step_values, transition_values
from dispatch.reference.calendar import WorkCalendar, deadline
from dispatch.routing.decide import PlannedPart, RoutingDecision, TimeLimits
from dispatch.routing.router import Router
from dispatch.users.models import User

# ---- The routing job's work --------------------------------------------------------------

# The event columns routing (or triage) sets, written for a batch in one UPDATE.
_ROUTED = (
    "status",
    "updated_at",
    "routing",
    "routed_at",
    "matter_code",
    "matter_list_id",
    "platform_code",
    "sign_by",
    "handle_by",
)


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
    same event at once; the assignment unique constraint backs this up. The batch is read in
    one query and written in a few: see dispatch_decisions.
    """
    now = now or utcnow()
    query = (
        select(Event)
        .where(col(Event.id).in_(list(event_ids)), Event.status == EventStatus.REPORTED)
        .order_by(col(Event.id))
        .with_for_update(skip_locked=True)
    )
    decided = []
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
        decided.append((event, decision))
    # A reported event has no parts yet: those made here are all it has.
    return dispatch_decisions(session, decided, calendar, now=now, first_parts=True)


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
    (routed,) = dispatch_decisions(
        session, [(event, decision)], calendar, now=now, actor=actor, action=action, reason=reason
    )
    return routed


def dispatch_decisions(
    session: Session,
    decided: Sequence[tuple[Event, RoutingDecision]],
    calendar: WorkCalendar,
    *,
    now: datetime,
    actor: User | None = None,
    action: EventAction = EventAction.ROUTE,
    reason: str | None = None,
    first_parts: bool = False,
) -> list[Routed]:
    """Dispatch each routed decision's assignments, or send its event to triage, in bulk.

    With first_parts the events had no part before, and the outbox is told that the parts
    made here are all each has (their cards then need no query for them).

    The events change in memory (one UPDATE per set of changed columns at the flush); every
    assignment of the batch goes in one multi-row INSERT, every step in another, both
    RETURNING their rows, which the outbox notes as one-by-one writes would. The assignment
    unique constraint refuses a second copy: the whole batch then fails and rolls back.
    """
    limits_memo: dict[TimeLimits | None, tuple[datetime | None, datetime | None]] = {}
    parts: list[dict[str, Any]] = []
    owners: list[tuple[Event, RoutingDecision, PlannedPart]] = []  # whose each part is
    first_steps: list[tuple[Event, dict[str, Any]]] = []
    for event, decision in decided:
        assert event.id is not None
        event.routing = decision.to_dict()
        event.routed_at = now
        if not decision.routed:
            first_steps.append(
                (
                    event,
                    transition_values(
                        event,
                        EventAction.NEED_TRIAGE,
                        actor=actor,
                        at=now,
                        reason="；".join(decision.triage_reasons),
                        data={"suggestions": [s.code for s in decision.suggestions]},
                    ),
                )
            )
            continue
        assert decision.matter is not None
        event.matter_code = decision.matter.code
        event.matter_list_id = decision.matter.list_id
        event.platform_code = decision.platform.code if decision.platform else None
        if decision.limits not in limits_memo:  # the batch shares one start: one sum per limit
            limits_memo[decision.limits] = deadlines(calendar, now, decision.limits)
        sign_by, handle_by = limits_memo[decision.limits]
        event.sign_by, event.handle_by = sign_by, handle_by
        first_steps.append(
            (
                event,
                transition_values(
                    event,
                    action,
                    actor=actor,
                    at=now,
                    reason=reason or "\n".join(decision.reasons),
                    data={
                        "matter": decision.matter.code,
                        "list_version": decision.matter.list_version,
                    },
                ),
            )
        )
        for plan in decision.assignments:
            parts.append(_part_values(event, plan, sign_by, handle_by, now))
            owners.append((event, decision, plan))
    with session.no_autoflush:  # the events are written by _write_events, not by a flush
        _write_events(session, [event for event, _ in decided])
        created = _insert_parts(session, parts)
    by_event: dict[int, list[Assignment]] = {}
    dispatch_steps: dict[int, list[dict[str, Any]]] = {}
    for assignment, (event, decision, plan) in zip(created, owners, strict=True):
        by_event.setdefault(assignment.event_id, []).append(assignment)
        dispatch_steps.setdefault(assignment.event_id, []).append(
            step_values(
                event,
                action="dispatch",
                assignment_id=assignment.id,
                from_org=decision.township.name if decision.township else None,
                to_org=plan.department_name,
                to_status=AssignmentStatus.PENDING,
                reason=f"{PART_ROLE_LABELS[AssignmentRole(plan.role)]}: {plan.department_name}",
                at=now,
            )
        )
    # Each event's own step first, then its dispatch steps: the timeline reads as before.
    entries: list[tuple[Event, dict[str, Any]]] = []
    for event, values in first_steps:
        entries.append((event, values))
        entries.extend((event, v) for v in dispatch_steps.get(values["event_id"], ()))
    add_steps(session, entries)
    outbox = outbox_of(session)
    outbox.hand_off(Handoff.DELIVERY, [a.id for a in created if a.id is not None])
    if first_parts:
        for event, _ in decided:
            assert event.id is not None
            outbox.note_parts(event.id, list(by_event.get(event.id, [])))
    results = []
    for event, decision in decided:
        assert event.id is not None
        if not decision.routed:
            results.append(Routed(event.id, EventStatus.NEEDS_TRIAGE, (), event.township_code))
            continue
        mine = by_event.get(event.id, [])
        results.append(
            Routed(
                event.id,
                event.status,
                tuple(a.id for a in mine if a.id is not None),
                event.township_code,
                event.matter_code,
                tuple(a.department_id for a in mine),
            )
        )
    return results


def _write_events(session: Session, events: list[Event]) -> None:
    """Write the columns routing sets in one UPDATE by primary key for the whole batch.

    The objects were changed in memory; their new values are marked as stored afterwards, so
    no flush writes them again, row by row.
    """
    if not events:
        return
    rows = [{"id": e.id, **{k: getattr(e, k) for k in _ROUTED}} for e in events]
    session.execute(update(Event), rows)
    for event, row in zip(events, rows, strict=True):  # the UPDATE expired them: no reload
        for key in _ROUTED:
            set_committed_value(event, key, row[key])


def _part_values(
    event: Event,
    plan: PlannedPart,
    sign_by: datetime | None,
    handle_by: datetime | None,
    now: datetime,
    round_: int = 1,
) -> dict[str, Any]:
    """Return a new pending assignment's column values, every column given (a bulk INSERT)."""
    return {
        "event_id": event.id,
        "department_id": plan.department_id,
        "role": AssignmentRole(plan.role),
        "round": round_,
        "status": AssignmentStatus.PENDING,
        "on_behalf_of_id": plan.on_behalf_of_id,
        "duties": list(plan.duties),
        "duties_text": plan.duties_text,
        "sign_by": sign_by,
        "handle_by": handle_by,
        "signed_at": None,
        "fed_back_at": None,
        "feedback": None,
        "return_reason": None,
        "return_clause": None,
        "created_at": now,
        "answered_at": None,
        "returns": 0,
        "reworks": 0,
        "sign_alert": 0,
        "handle_alert": 0,
    }


def _insert_parts(session: Session, rows: list[dict[str, Any]]) -> list[Assignment]:
    """Insert the assignments in one statement and return their rows, in the order given."""
    return insert_many(session, Assignment, rows)


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
