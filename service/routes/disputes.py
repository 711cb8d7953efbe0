"""Disputes over HTTP: opening one by hand, reading them, and the centre's ruling."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dispatch.core.bounds import Id
from dispatch.disputes.models import DisputeStatus
from dispatch.disputes.opening import open_by_hand
from dispatch.disputes.read import DisputeDetail, DisputesPublic, dispute_detail, list_disputes
from dispatch.disputes.read import read_dispute as read_one
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.loop import rulings
from service.deps import CurrentActor, CurrentUser, SessionDep

router = APIRouter()


class OpenDisputeBody(BaseModel):
    """Why the centre puts an event's ownership in dispute."""

    reason: str = Field(min_length=1, max_length=2000, description="发起争议的理由")


class RuleBody(BaseModel):
    """The centre's ruling: who leads, who cooperates, under which minutes and why."""

    lead_department_id: Id = Field(description="裁定的牵头部门")
    co_department_ids: list[Id] = Field(
        default_factory=list, max_length=20, description="裁定的配合部门"
    )
    minutes_ref: str = Field(
        min_length=1, max_length=100, description="纪要号，如「县社治〔2026〕3号」"
    )
    reasoning: str = Field(min_length=1, max_length=4000, description="裁定理由")
    list_change: ListChangeProposal | None = Field(
        default=None, description="同时提出的清单调整（可选）"
    )


@router.post("/events/{event_id}/dispute", status_code=201, response_model=DisputeDetail)
def open_dispute(
    event_id: Id,
    body: OpenDisputeBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> DisputeDetail:
    """Open a dispute on an event by hand (the centre); 409 if one is already open."""
    dispute = open_by_hand(session, actor, user, event_id, reason=body.reason)
    return dispute_detail(session, dispute)


@router.get("/disputes", response_model=DisputesPublic)
def read_disputes(
    session: SessionDep,
    actor: CurrentActor,
    status: Annotated[DisputeStatus | None, Query(description="open 待裁定，ruled 已裁定")] = None,
    event_id: Annotated[Id | None, Query(description="只看该事件的争议")] = None,
) -> DisputesPublic:
    """List the disputes the user may read, newest first."""
    return list_disputes(session, actor, status=status, event_id=event_id)


@router.get("/disputes/{dispute_id}", response_model=DisputeDetail)
def read_dispute(dispute_id: Id, session: SessionDep, actor: CurrentActor) -> DisputeDetail:
    """Return one dispute: its event, parties, the matter's list entries, the ruling."""
    return read_one(session, actor, dispute_id)


@router.post("/disputes/{dispute_id}/rule", response_model=DisputeDetail)
def rule_dispute(
    dispute_id: Id,
    body: RuleBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> DisputeDetail:
    """Rule a dispute (the centre) and re-dispatch its event; 409 once it is ruled."""
    dispute = rulings.rule(
        session,
        actor,
        user,
        dispute_id,
        lead_department_id=body.lead_department_id,
        co_department_ids=body.co_department_ids,
        minutes_ref=body.minutes_ref,
        reasoning=body.reasoning,
        list_change=body.list_change,
    )
    return dispute_detail(session, dispute)
