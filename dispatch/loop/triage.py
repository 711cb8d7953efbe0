"""The command centre's triage: route by hand, or weed out an invalid report."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput
from dispatch.events.lifecycle import (
    EventAction,
    next_event_status,
)
from dispatch.events.models import Event
from dispatch.events.scopes import event_scope
from dispatch.events.service import lock_event
from dispatch.events.steps import move_event
from dispatch.loop.dispatching import Routed, apply_decision
from dispatch.loop.parts import required_text
from dispatch.reference.calendar import WorkCalendar
from dispatch.routing.router import Router
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize
from geo.levels import Level


def triage_route(
    session: Session,
    actor: Actor,
    user: User,
    router: Router,
    calendar: WorkCalendar,
    event_id: int,
    *,
    matter_code: str | None,
    jurisdiction_code: str | None,
    note: str | None,
    now: datetime | None = None,
) -> Routed:
    """Route a needs-triage event by hand, choosing the matter and/or the jurisdiction."""
    now = now or utcnow()
    if not matter_code and not jurisdiction_code:
        raise InvalidInput("请选择事项或辖区", field="matter_code")
    event = lock_event(session, event_id)
    authorize(actor, Action.TRIAGE_ROUTE, event=event_scope(session, event))
    next_event_status(event.status, EventAction.TRIAGE_ROUTE)  # Conflict unless needs triage
    location = (
        router.location_of(jurisdiction_code)
        if jurisdiction_code
        else router.index.locate(event.lon, event.lat)
    )
    decision = router.decide_at(
        session,
        location,
        matter_code=matter_code or event.reported_matter_code,
        description=event.description,
        urgent=event.urgent,
        at=event.received_at,
    )
    if not decision.routed:
        raise InvalidInput(
            "人工分拨仍无法派单: " + "；".join(decision.triage_reasons),
            field="matter_code" if matter_code else "jurisdiction_code",
        )
    if jurisdiction_code:
        for level, attribute in (
            (Level.COUNTY, "county_code"),
            (Level.TOWNSHIP, "township_code"),
            (Level.VILLAGE, "village_code"),
            (Level.GRID, "grid_code"),
        ):
            found = location.at(level)
            setattr(event, attribute, found.code if found else None)
    reason = f"人工研判分拨: {note}" if note else "人工研判分拨"
    return apply_decision(
        session,
        event,
        decision,
        calendar,
        now=now,
        actor=user,
        action=EventAction.TRIAGE_ROUTE,
        reason=reason,
    )


def mark_invalid(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Event:
    """Weed out an invalid or duplicate report during triage."""
    now = now or utcnow()
    reason = required_text(reason, "reason", "作废理由")
    event = lock_event(session, event_id)
    authorize(actor, Action.MARK_INVALID, event=event_scope(session, event))
    move_event(session, event, EventAction.MARK_INVALID, actor=user, at=now, reason=reason)
    return event
