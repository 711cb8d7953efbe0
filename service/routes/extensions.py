"""Extensions (延期) over HTTP: a part's holder asks, the centre approves or refuses."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dispatch.core.bounds import Id
from dispatch.events.models import ExtensionStatus
from dispatch.supervision import extensions
from dispatch.supervision.extension_shapes import (
    ExtensionPublic,
    ExtensionsPublic,
    ExtensionStanding,
    extension_public,
    standing_public,
)
from service.deps import CalendarDep, CurrentActor, CurrentUser, SessionDep
from service.errors import error_response

router = APIRouter()
# Working days in one request: the column's range; the county's limit is the real bound.
Days = Field(ge=1, le=extensions.MAX_WORKING_DAYS, description="工作日数")


class ExtensionAsk(BaseModel):
    """How many more working days, and why."""

    working_days: int = Days
    reason: str = Field(min_length=1, max_length=2000, description="延期理由")


class ExtensionApproval(BaseModel):
    """The centre's approval: fewer days than asked if it says so, and its note."""

    working_days: int | None = Field(
        default=None,
        ge=1,
        le=extensions.MAX_WORKING_DAYS,
        description="批准的工作日数（1 至申请天数）；不填则按申请天数",
    )
    note: str = Field(min_length=1, max_length=2000, description="审批意见")


class ExtensionRefusal(BaseModel):
    """Why the centre refuses."""

    note: str = Field(min_length=1, max_length=2000, description="不予批准的理由")


def _reply(
    session: SessionDep, calendar: CalendarDep, actor: CurrentActor, request_id: int
) -> ExtensionPublic:
    request, assignment, event = extensions.get_request(session, actor, request_id)
    return extension_public(session, calendar, request, assignment, event)


@router.get("/assignments/{assignment_id}/extension", response_model=ExtensionStanding)
def read_standing(
    assignment_id: Id, session: SessionDep, calendar: CalendarDep, actor: CurrentActor
) -> ExtensionStanding:
    """Where a part stands for an extension: time left to its deadline, days still grantable."""
    return standing_public(extensions.part_standing(session, actor, calendar, assignment_id))


@router.post(
    "/assignments/{assignment_id}/extension", status_code=201, response_model=ExtensionPublic
)
def request_extension(
    assignment_id: Id,
    body: ExtensionAsk,
    session: SessionDep,
    calendar: CalendarDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> ExtensionPublic:
    """Ask for more working days on a part, before its handling deadline (申请延期)."""
    request = extensions.request_extension(
        session, actor, user, assignment_id, working_days=body.working_days, reason=body.reason
    )
    assert request.id is not None
    return _reply(session, calendar, actor, request.id)


def _decided(
    session: SessionDep, calendar: CalendarDep, actor: CurrentActor, request_id: int
) -> ExtensionPublic | JSONResponse:
    reply = _reply(session, calendar, actor, request_id)
    if reply.status == ExtensionStatus.LAPSED:
        # The lapse is saved (no exception, so the request's transaction commits), then refused.
        return error_response(extensions.lapsed_refusal())
    return reply


@router.post("/extensions/{extension_id}/approve", response_model=ExtensionPublic)
def approve(
    extension_id: Id,
    body: ExtensionApproval,
    session: SessionDep,
    calendar: CalendarDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> ExtensionPublic | JSONResponse:
    """Approve a pending request, with as many days as asked or fewer (批准延期)."""
    extensions.decide_extension(
        session,
        actor,
        user,
        extension_id,
        approve=True,
        calendar=calendar,
        note=body.note,
        working_days=body.working_days,
    )
    return _decided(session, calendar, actor, extension_id)


@router.post("/extensions/{extension_id}/refuse", response_model=ExtensionPublic)
def refuse(
    extension_id: Id,
    body: ExtensionRefusal,
    session: SessionDep,
    calendar: CalendarDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> ExtensionPublic | JSONResponse:
    """Refuse a pending request, saying why (不予延期)."""
    extensions.decide_extension(
        session, actor, user, extension_id, approve=False, calendar=calendar, note=body.note
    )
    return _decided(session, calendar, actor, extension_id)


@router.get("/extensions", response_model=ExtensionsPublic)
def read_extensions(
    session: SessionDep,
    calendar: CalendarDep,
    actor: CurrentActor,
    status: ExtensionStatus | None = None,
) -> ExtensionsPublic:
    """List the requests the user may read, newest first (at most 200)."""
    rows = extensions.list_requests(session, actor, status=status)
    data = [extension_public(session, calendar, r, a, e) for r, a, e in rows]
    return ExtensionsPublic(data=data, count=len(data))


@router.get("/extensions/{extension_id}", response_model=ExtensionPublic)
def read_extension(
    extension_id: Id, session: SessionDep, calendar: CalendarDep, actor: CurrentActor
) -> ExtensionPublic:
    """Return one request with its part's deadline and what the limit leaves."""
    return _reply(session, calendar, actor, extension_id)
