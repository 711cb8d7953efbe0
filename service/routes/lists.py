"""The responsibility list over HTTP: change requests, the staffing office's review, versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.core.bounds import Id
from dispatch.disputes import review
from dispatch.disputes.list_schemas import (
    ListChangeCreate,
    ListChangeDetail,
    ListChangePublic,
    ListDiff,
    MatterListDetail,
    MatterListPublic,
    PublishList,
    RejectNote,
    ReviewNote,
)
from dispatch.disputes.models import ListChangeStatus
from service.deps import CurrentUser, SessionDep
from service.routes.reference import CountyQuery

router = APIRouter()


@router.post("/list-changes", status_code=201)
def apply_for_change(
    body: ListChangeCreate, session: SessionDep, user: CurrentUser
) -> ListChangeDetail:
    """Apply in writing to change the list in force (pending the staffing office's review)."""
    change = review.file_application(session, user, body)
    return review.change_detail(session, change)


@router.get("/list-changes")
def list_changes(
    session: SessionDep,
    user: CurrentUser,
    county: CountyQuery = None,
    status: Annotated[ListChangeStatus | None, Query(description="状态")] = None,
) -> list[ListChangePublic]:
    """List change requests: all for the staffing office and the centre, else one's own."""
    return review.visible_changes(session, user, county=county, status=status)


@router.get("/list-changes/{change_id}")
def get_change(change_id: Id, session: SessionDep, user: CurrentUser) -> ListChangeDetail:
    """Return a change request with its evidence: the dispute, the events, the matter now."""
    return review.change_for(session, user, change_id)


@router.post("/list-changes/{change_id}/accept")
def accept_change(
    change_id: Id, body: ReviewNote, session: SessionDep, user: CurrentUser
) -> ListChangeDetail:
    """Accept a pending request: fold it into the draft of the next list version."""
    return review.accept_change(session, user, change_id, body.note)


@router.post("/list-changes/{change_id}/reject")
def reject_change(
    change_id: Id, body: RejectNote, session: SessionDep, user: CurrentUser
) -> ListChangeDetail:
    """Reject a pending request, with the reason."""
    return review.reject_change(session, user, change_id, body.note)


@router.get("/lists")
def lists(
    session: SessionDep, user: CurrentUser, county: CountyQuery = None
) -> list[MatterListPublic]:
    """Return the county's list versions, newest first."""
    return review.list_summaries(session, user, county)


@router.get("/lists/{list_id}")
def list_detail(
    list_id: Id,
    session: SessionDep,
    user: CurrentUser,
    q: Annotated[
        str | None, Query(max_length=100, description="按编码、名称、关键词或部门搜索")
    ] = None,
) -> MatterListDetail:
    """Return a list version with its matters, searchable."""
    return review.list_detail(session, list_id, q)


@router.get("/lists/{list_id}/diff")
def list_diff(
    list_id: Id,
    session: SessionDep,
    user: CurrentUser,
    against: Annotated[Id | None, Query(description="对照版本；默认为现行版本")] = None,
) -> ListDiff:
    """Compare a version with the version in force (or another), matter by matter."""
    return review.list_diff(session, list_id, against)


@router.post("/lists/{list_id}/publish")
def publish(
    list_id: Id, body: PublishList, session: SessionDep, user: CurrentUser
) -> MatterListPublic:
    """Publish a draft from a date: it supersedes the version in force and routes from then."""
    return review.publish_draft(session, user, list_id, body.effective_from)
