"""乡呼县应 over HTTP: a township calls the county in, the centre answers, both read the calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dispatch.core.bounds import Id
from dispatch.events.models import EscalationStatus
from dispatch.loop import escalation as escalations
from dispatch.loop.escalation import EscalationPublic, EscalationsPublic
from service.deps import CalendarDep, CurrentActor, CurrentUser, SessionDep

router = APIRouter()


class EscalateBody(BaseModel):
    """Why the township cannot handle its part and calls the county in."""

    reason: str = Field(min_length=1, max_length=2000, description="乡呼理由")


class AnswerBody(BaseModel):
    """Which county department takes the part: one named, or the list's lead of the matter."""

    department_id: Id | None = Field(default=None, description="承接的县级部门")
    by_list: bool = Field(default=False, description="按清单分派：事项的牵头部门")


@router.post("/events/{event_id}/escalate", status_code=201, response_model=EscalationPublic)
def escalate(
    event_id: Id, body: EscalateBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EscalationPublic:
    """Call the county in (乡呼) on the township's own open platform part of the event."""
    row = escalations.escalate(session, actor, user, event_id, reason=body.reason)
    return escalations.public(session, row)


@router.post("/escalations/{escalation_id}/answer", response_model=EscalationPublic)
def answer(
    escalation_id: Id,
    body: AnswerBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
    calendar: CalendarDep,
) -> EscalationPublic:
    """Answer a call (县应): the township's part goes to a county department."""
    row = escalations.answer(
        session,
        actor,
        user,
        calendar,
        escalation_id,
        department_id=body.department_id,
        by_list=body.by_list,
    )
    return escalations.public(session, row)


@router.get("/escalations", response_model=EscalationsPublic)
def read_escalations(
    session: SessionDep,
    actor: CurrentActor,
    status: EscalationStatus | None = None,
    event_id: Annotated[Id | None, Query(description="只看一个事件的乡呼")] = None,
) -> EscalationsPublic:
    """List calls: the centre and the staffing office all, a township its own."""
    return escalations.list_escalations(session, actor, status=status, event_id=event_id)


@router.get("/escalations/{escalation_id}", response_model=EscalationPublic)
def read_escalation(
    escalation_id: Id, session: SessionDep, actor: CurrentActor
) -> EscalationPublic:
    """Return one call with its answer and the response time."""
    return escalations.get_escalation(session, actor, escalation_id)
