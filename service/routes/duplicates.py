"""Likely duplicates (重复事件) of an event, or of a report about to be submitted."""

from __future__ import annotations

from fastapi import APIRouter

from dispatch.core.bounds import Id
from dispatch.events.duplicates import (
    DraftProbe,
    DuplicateCandidates,
    draft_duplicates,
    event_duplicates,
)
from dispatch.events.scopes import event_scope
from dispatch.events.service import get_event
from dispatch.users.policy import Action, authorize, visibility
from service.deps import CurrentActor, RouterDep, SessionDep

router = APIRouter(tags=["duplicates"])


@router.get("/events/{event_id}/duplicates")
def duplicates_of_event(
    event_id: Id, session: SessionDep, router_: RouterDep, actor: CurrentActor
) -> DuplicateCandidates:
    """Return the open events that are probably the same problem, nearest first."""
    event = get_event(session, event_id)
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    return event_duplicates(session, router_, event, visibility(actor))


@router.post("/duplicates")
def duplicates_of_draft(
    body: DraftProbe, session: SessionDep, router_: RouterDep, actor: CurrentActor
) -> DuplicateCandidates:
    """Return the open events a report not yet submitted probably repeats, nearest first."""
    authorize(actor, Action.REPORT)
    return draft_duplicates(session, router_, body, visibility(actor))
