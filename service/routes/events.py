"""Events and assignments over HTTP: intake, reading, and every step of the closed loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from dispatch.core.bounds import Id, Moment, Offset
from dispatch.core.errors import NotFound, Unauthorized
from dispatch.events.attachments import (
    get_attachment,
    read_limited,
    store_attachment,
)
from dispatch.events.models import Event, EventStatus
from dispatch.events.read import event_detail
from dispatch.events.schemas import (
    EventCreate,
    EventDetail,
    EventPublic,
    EventsPublic,
)
from dispatch.events.scopes import event_scope
from dispatch.events.service import EventFilter, get_event, list_events
from dispatch.loop import assignments, clauses, verification
from dispatch.loop import merge as merging
from dispatch.loop import triage as triaging
from dispatch.loop.choices import RedispatchOptions, redispatch_options
from dispatch.loop.clauses import ClausesPublic
from dispatch.users.policy import Action, authorize, visibility
from service.deps import (
    NOT_SIGNED_IN,
    BearerToken,
    CalendarDep,
    CurrentActor,
    CurrentUser,
    RouterDep,
    SessionDep,
    SettingsDep,
)
from service.errors import ErrorBody
from service.intake import IntakeCommitter

router = APIRouter()


@router.post(
    "/events",
    status_code=201,
    response_model=EventPublic,
    responses={503: {"model": ErrorBody, "description": "服务繁忙：按 Retry-After 稍后重试"}},
)
async def create_event(
    body: EventCreate,
    request: Request,
    response: Response,
    settings: SettingsDep,
    token: BearerToken,
) -> Event:
    """Report an event: 201 at once; a repeated client_id answers 200 with the same event.

    Async, with no database work of its own: the token's signature is checked here, the
    user and the report in the group commit (service.intake) that stores it.
    """
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    committer: IntakeCommitter = request.app.state.intake
    intake = await committer.submit(body, committer.tokens.read(token, settings))
    if not intake.created:
        response.status_code = 200
    return intake.event


@router.get("/events/{event_id}", response_model=EventDetail)
def read_event(event_id: Id, session: SessionDep, actor: CurrentActor) -> EventDetail:
    """Return an event with its assignments and its whole timeline."""
    event = get_event(session, event_id)
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    return event_detail(session, event)


Code = Annotated[str | None, Query(max_length=40)]


def event_filter(
    actor: CurrentActor,
    status: Annotated[list[EventStatus] | None, Query(description="可重复：任一状态")] = None,
    township: Code = None,
    department: Annotated[Id | None, Query(description="持有任务的部门（含其派驻机构）")] = None,
    matter: Code = None,
    platform: Code = None,
    overdue: Annotated[bool | None, Query(description="true 超期；false 未超期")] = None,
    since: Annotated[Moment | None, Query(description="受理时间起（含）")] = None,
    until: Annotated[Moment | None, Query(description="受理时间止（不含）")] = None,
    q: Annotated[str | None, Query(max_length=200, description="描述或地址中的关键词")] = None,
) -> EventFilter:
    """Read the events list's filters, narrowed to the events the user may list.

    GET /api/events and the ledger's exports take the same query parameters through this.
    """
    seen = visibility(actor)
    return EventFilter(
        statuses=frozenset(s.value for s in status) if status else None,
        township_code=township,
        department_id=department,
        matter_code=matter,
        platform_code=platform,
        overdue=overdue,
        since=since,
        until=until,
        text=q.strip() if q and q.strip() else None,
        visible_townships=seen.townships,
        visible_departments=seen.departments,
        visible_reporter_id=seen.reporter_id,
    )


EventFilterDep = Annotated[EventFilter, Depends(event_filter)]


@router.get("/events", response_model=EventsPublic)
def read_events(
    session: SessionDep,
    where: EventFilterDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EventsPublic:
    """List events the user may see, newest first, with filters and pagination."""
    events, total = list_events(session, where, offset=offset, limit=limit)
    return EventsPublic(
        data=[EventPublic.model_validate(e.model_dump()) for e in events],
        count=total,
        offset=offset,
        limit=limit,
    )


@router.post("/events/{event_id}/attachments", status_code=201)
def upload_attachment(
    event_id: Id,
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    actor: CurrentActor,
    assignment_id: Annotated[Id | None, Form()] = None,
) -> dict[str, object]:
    """Attach a photo (JPEG, PNG or WebP, at most 10 MB) to an event or to its feedback."""
    event = get_event(session, event_id)
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    data = read_limited(file.file)
    attachment = store_attachment(
        session,
        settings.data_dir / "attachments",
        event_id,
        file_name=file.filename or "photo",
        data=data,
        user=user,
        assignment_id=assignment_id,
    )
    return attachment.model_dump(exclude={"storage_key"})


@router.get("/attachments/{attachment_id}")
def download_attachment(
    attachment_id: Id, session: SessionDep, settings: SettingsDep, actor: CurrentActor
) -> FileResponse:
    """Return a photo's bytes to anyone who may see its event."""
    attachment = get_attachment(session, attachment_id)
    event = get_event(session, attachment.event_id)
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    path = settings.data_dir / "attachments" / attachment.storage_key
    if not path.is_file():
        raise NotFound(f"附件 {attachment_id} 的文件已不在存储中", field="attachment_id")
    # nosniff: a browser must not read a photo as a page, whatever bytes it carries.
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.file_name,
        content_disposition_type="inline",
        headers={"X-Content-Type-Options": "nosniff"},
    )


class ReturnBody(BaseModel):
    """Why a department says "not ours", and the row of the routing list it relies on."""

    reason: str = Field(min_length=1, max_length=2000)
    clause_code: str = Field(
        min_length=1, max_length=40, description="the matter code of the row cited, from /clauses"
    )
    clause_note: str | None = Field(default=None, max_length=120)


class CloseBody(BaseModel):
    """Why a part no longer applies."""

    reason: str = Field(min_length=1, max_length=2000)


class NoteBody(BaseModel):
    """A note that must be given."""

    note: str = Field(min_length=1, max_length=4000)


class ReasonBody(BaseModel):
    """A reason that must be given."""

    reason: str = Field(min_length=1, max_length=2000)


class RedispatchBody(BaseModel):
    """Which department takes a returned assignment, and why."""

    department_id: Id
    reason: str = Field(min_length=1, max_length=2000)


class VerifyBody(BaseModel):
    """The township's on-site check: passed, or failed with a note."""

    passed: bool
    note: str | None = Field(default=None, max_length=4000)


class RateBody(BaseModel):
    """The follow-up rating, 1 to 5; a note is required below 3."""

    rating: int = Field(ge=1, le=5)
    note: str | None = Field(default=None, max_length=4000)


class TriageBody(BaseModel):
    """The command centre's routing by hand: a matter and/or a jurisdiction."""

    matter_code: str | None = Field(default=None, max_length=40)
    jurisdiction_code: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=2000)


def _assignment_reply(session: SessionDep, event_id: int) -> EventDetail:
    return event_detail(session, get_event(session, event_id))


@router.post("/assignments/{assignment_id}/sign", response_model=EventDetail)
def sign(
    assignment_id: Id, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EventDetail:
    """Sign for an assignment (签收)."""
    assignment = assignments.sign(session, actor, user, assignment_id)
    return _assignment_reply(session, assignment.event_id)


@router.post("/assignments/{assignment_id}/return", response_model=EventDetail)
def return_assignment(
    assignment_id: Id,
    body: ReturnBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> EventDetail:
    """Return an assignment as not this department's (退回), citing the list."""
    assignment = assignments.return_assignment(
        session,
        actor,
        user,
        assignment_id,
        reason=body.reason,
        clause_code=body.clause_code,
        clause_note=body.clause_note,
    )
    return _assignment_reply(session, assignment.event_id)


@router.get("/assignments/{assignment_id}/clauses", response_model=ClausesPublic)
def return_clauses(assignment_id: Id, session: SessionDep, actor: CurrentActor) -> ClausesPublic:
    """The rows of the list version that routed the event, for a return to cite."""
    return clauses.for_assignment(session, actor, assignment_id)


@router.post("/assignments/{assignment_id}/close", response_model=EventDetail)
def close_part(
    assignment_id: Id,
    body: CloseBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> EventDetail:
    """Close a part that no longer applies (the verifier, with the reason)."""
    assignment = verification.close_part(session, actor, user, assignment_id, reason=body.reason)
    return _assignment_reply(session, assignment.event_id)


@router.post("/assignments/{assignment_id}/feedback", response_model=EventDetail)
def feed_back(
    assignment_id: Id,
    body: NoteBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> EventDetail:
    """Report back on the work done (反馈)."""
    assignment = assignments.feed_back(session, actor, user, assignment_id, note=body.note)
    return _assignment_reply(session, assignment.event_id)


@router.post("/assignments/{assignment_id}/refuse-return", response_model=EventDetail)
def refuse_return(
    assignment_id: Id,
    body: ReasonBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> EventDetail:
    """Refuse a return: the assignment goes back to its department."""
    assignment = assignments.refuse_return(session, actor, user, assignment_id, reason=body.reason)
    return _assignment_reply(session, assignment.event_id)


@router.get("/assignments/{assignment_id}/redispatch-options", response_model=RedispatchOptions)
def read_redispatch_options(
    assignment_id: Id, session: SessionDep, actor: CurrentActor
) -> RedispatchOptions:
    """List the departments a part may be re-dispatched to: the list's lead, then by kind."""
    return redispatch_options(session, actor, assignment_id)


@router.post("/assignments/{assignment_id}/redispatch", response_model=EventDetail)
def redispatch(
    assignment_id: Id,
    body: RedispatchBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> EventDetail:
    """Give a returned assignment to another department."""
    fresh = assignments.redispatch(
        session, actor, user, assignment_id, department_id=body.department_id, reason=body.reason
    )
    return _assignment_reply(session, fresh.event_id)


@router.post("/events/{event_id}/verify", response_model=EventDetail)
def verify(
    event_id: Id, body: VerifyBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EventDetail:
    """Record the on-site verification (核查)."""
    event = verification.verify(session, actor, user, event_id, passed=body.passed, note=body.note)
    return event_detail(session, event)


@router.post("/events/{event_id}/close", response_model=EventDetail)
def close(event_id: Id, session: SessionDep, user: CurrentUser, actor: CurrentActor) -> EventDetail:
    """Close a verified event (办结)."""
    return event_detail(session, verification.close(session, actor, user, event_id))


@router.post("/events/{event_id}/rate", response_model=EventDetail)
def rate(
    event_id: Id, body: RateBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EventDetail:
    """Record the follow-up rating (回访)."""
    event = verification.rate(session, actor, user, event_id, rating=body.rating, note=body.note)
    return event_detail(session, event)


@router.post("/events/{event_id}/triage", response_model=EventDetail)
def triage(
    event_id: Id,
    body: TriageBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
    router_: RouterDep,
    calendar: CalendarDep,
) -> EventDetail:
    """Route a needs-triage event by hand (人工研判)."""
    triaging.triage_route(
        session,
        actor,
        user,
        router_,
        calendar,
        event_id,
        matter_code=body.matter_code,
        jurisdiction_code=body.jurisdiction_code,
        note=body.note,
    )
    return event_detail(session, get_event(session, event_id))


@router.post("/events/{event_id}/invalid", response_model=EventDetail)
def mark_invalid(
    event_id: Id, body: ReasonBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EventDetail:
    """Weed out an invalid or duplicate report (作废)."""
    return event_detail(
        session, triaging.mark_invalid(session, actor, user, event_id, reason=body.reason)
    )


class MergeBody(BaseModel):
    """Which event this duplicate report belongs to."""

    into_id: Id
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/events/{event_id}/merge", response_model=EventDetail)
def merge(
    event_id: Id, body: MergeBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> EventDetail:
    """Merge a duplicate report into its master event (合并)."""
    event = merging.merge(session, actor, user, event_id, into_id=body.into_id, reason=body.reason)
    return event_detail(session, event)
