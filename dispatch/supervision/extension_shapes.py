"""Extension requests' shapes (the SQLModel family of HOUSE.md): the base, the API's views."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel

from dispatch.core.clock import utcnow
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    ExtensionRequest,
    ExtensionStatus,
)
from dispatch.loop.parts import department_name
from dispatch.reference.calendar import WorkCalendar
from dispatch.supervision.extensions import Standing, standing
from dispatch.users.models import User


class ExtensionBase(SQLModel):
    """What every shape of an extension request shows."""

    id: int
    event_id: int
    assignment_id: int
    working_days: int = Field(description="申请延期的工作日数")
    reason: str = Field(description="延期理由")
    status: ExtensionStatus = Field(description="待审批、已批准、未批准或已失效")
    requested_at: datetime
    granted_days: int | None = Field(description="批准的工作日数（未批准为 0，未审批为空）")
    decided_at: datetime | None = Field(description="审批或失效的时间")
    decision_note: str | None = Field(description="审批意见")
    handle_by_before: datetime | None = Field(description="申请时的办结时限")
    handle_by_after: datetime | None = Field(description="批准后的办结时限")


class ExtensionStanding(SQLModel):
    """Where a part stands for an extension: its deadline, time left, what the limit leaves."""

    assignment_id: int
    handle_by: datetime | None = Field(description="当前办结时限")
    working_days_left: float | None = Field(
        description="距当前办结时限的工作日数（一位小数，超期为负）；任务不在办理中时为空"
    )
    limit_days: int = Field(description="本县延期累计上限（工作日）")
    granted_days: int = Field(description="该任务已批准延期的工作日数")
    grantable_days: int = Field(description="该任务还可延期的工作日数")
    may_request: bool = Field(description="现在能否申请延期")
    pending_id: int | None = Field(description="待审批的延期申请编号")


class ExtensionPublic(ExtensionBase):
    """One request as the centre and the department read it, with the part it is about."""

    department_id: int
    department_name: str = Field(description="申请延期的部门")
    role: AssignmentRole
    assignment_status: AssignmentStatus
    event_description: str
    event_address: str | None
    requested_by: str | None = Field(description="申请人")
    decided_by: str | None = Field(description="审批人")
    part: ExtensionStanding = Field(description="任务当前的时限与延期余量")


class ExtensionsPublic(SQLModel):
    """The requests the user may read, newest first."""

    data: list[ExtensionPublic]
    count: int


def standing_public(found: Standing) -> ExtensionStanding:
    """Return a part's standing as the API shows it."""
    return ExtensionStanding(
        assignment_id=found.assignment_id,
        handle_by=found.handle_by,
        working_days_left=found.working_days_left,
        limit_days=found.limit_days,
        granted_days=found.granted_days,
        grantable_days=found.grantable_days,
        may_request=found.may_request,
        pending_id=found.pending_id,
    )


def _name(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return (user.display_name or user.username) if user is not None else None


def extension_public(
    session: Session,
    calendar: WorkCalendar,
    request: ExtensionRequest,
    assignment: Assignment,
    event: Event,
    *,
    now: datetime | None = None,
) -> ExtensionPublic:
    """Return one request with its part's standing now."""
    assert request.id is not None
    return ExtensionPublic(
        id=request.id,
        event_id=request.event_id,
        assignment_id=request.assignment_id,
        working_days=request.working_days,
        reason=request.reason,
        status=request.status,
        requested_at=request.requested_at,
        granted_days=request.granted_days,
        decided_at=request.decided_at,
        decision_note=request.decision_note,
        handle_by_before=request.handle_by_before,
        handle_by_after=request.handle_by_after,
        department_id=assignment.department_id,
        department_name=department_name(session, assignment.department_id),
        role=assignment.role,
        assignment_status=assignment.status,
        event_description=event.description,
        event_address=event.address,
        requested_by=_name(session, request.requested_by_id),
        decided_by=_name(session, request.decided_by_id),
        part=standing_public(standing(session, calendar, assignment, event, now=now or utcnow())),
    )
