"""Supervision notices (督办) over HTTP: the centre issues, the department replies, all read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dispatch.core.bounds import Id, Offset
from dispatch.events.models import NoticeLevel, NoticeStatus
from dispatch.supervision import notices
from dispatch.supervision.notices import NoticeFilter
from dispatch.supervision.schemas import NoticePublic, NoticesPublic
from service.deps import CurrentActor, CurrentUser, SessionDep

router = APIRouter()


class SuperviseBody(BaseModel):
    """The level of a notice issued by hand, and what it asks of the department."""

    level: NoticeLevel = Field(description="normal 普通督办，yellow 黄牌督办，red 红牌督办")
    note: str = Field(min_length=1, max_length=2000, description="督办内容")


class ReplyBody(BaseModel):
    """The department's reply to a notice (回复)."""

    note: str = Field(min_length=1, max_length=2000, description="回复内容")


@router.post("/assignments/{assignment_id}/supervise", status_code=201, response_model=NoticePublic)
def supervise(
    assignment_id: Id,
    body: SuperviseBody,
    session: SessionDep,
    user: CurrentUser,
    actor: CurrentActor,
) -> NoticePublic:
    """Issue a supervision notice on a live part (督办; the command centre, with a note)."""
    notice = notices.issue_notice(
        session, actor, user, assignment_id, level=body.level, note=body.note
    )
    assert notice.id is not None
    return notices.read_notice(session, actor, notice.id)


@router.post("/supervision/{notice_id}/reply", response_model=NoticePublic)
def reply(
    notice_id: Id, body: ReplyBody, session: SessionDep, user: CurrentUser, actor: CurrentActor
) -> NoticePublic:
    """Acknowledge a notice with a note (回复督办), once; it closes when the part is fed back."""
    notices.reply_notice(session, actor, user, notice_id, note=body.note)
    return notices.read_notice(session, actor, notice_id)


@router.get("/supervision", response_model=NoticesPublic)
def read_notices(
    session: SessionDep,
    actor: CurrentActor,
    status: Annotated[
        list[NoticeStatus] | None,
        Query(
            description="可重复：任一状态；open 待回复，acknowledged 已回复待反馈，closed 已关闭"
        ),
    ] = None,
    level: NoticeLevel | None = None,
    event: Annotated[Id | None, Query(description="只看该事件的督办")] = None,
    assignment: Annotated[Id | None, Query(description="只看该任务的督办")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NoticesPublic:
    """List the notices the user may read, newest first."""
    where = NoticeFilter(
        statuses=frozenset(status) if status else None,
        level=level,
        event_id=event,
        assignment_id=assignment,
    )
    return notices.list_notices(session, actor, where, offset=offset, limit=limit)


@router.get("/supervision/{notice_id}", response_model=NoticePublic)
def read_notice(notice_id: Id, session: SessionDep, actor: CurrentActor) -> NoticePublic:
    """Return one supervision notice."""
    return notices.read_notice(session, actor, notice_id)
