"""A department's own past assignments over HTTP: its history, searched and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.core.bounds import Id, Moment, Offset
from dispatch.events.history import AssignmentFilter, list_assignments
from dispatch.events.models import AssignmentRole, AssignmentStatus
from dispatch.events.schemas import AssignmentsPublic
from dispatch.users.policy import history_departments
from service.deps import CurrentActor, SessionDep

router = APIRouter()


@router.get("/assignments", response_model=AssignmentsPublic)
def read_assignments(
    session: SessionDep,
    actor: CurrentActor,
    status: AssignmentStatus | None = None,
    role: AssignmentRole | None = None,
    department: Id | None = None,
    matter: Annotated[str | None, Query(max_length=40)] = None,
    since: Moment | None = None,
    until: Moment | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AssignmentsPublic:
    """List the department's (and its stationed units') assignments, newest first."""
    departments = history_departments(actor)
    if department is not None:
        departments = departments & {department}
    where = AssignmentFilter(
        departments=departments,
        status=status,
        role=role,
        matter_code=matter,
        since=since,
        until=until,
        text=q,
    )
    return list_assignments(session, where, offset=offset, limit=limit)
