"""The tables of disputes, their parties, and the requests to change the responsibility list."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType
from dispatch.events import models as _events  # noqa: F401  (tables our foreign keys name)


class DisputeStatus(StrEnum):
    """open (waiting for the centre's ruling) → ruled."""

    OPEN = "open"
    RULED = "ruled"


class DisputeTrigger(StrEnum):
    """How a dispute opened: the lead returned twice, two departments returned, or by hand."""

    SECOND_RETURN = "second_return"
    TWO_DEPARTMENTS = "two_departments"
    MANUAL = "manual"


class Dispute(SQLModel, table=True):
    """Who owns an event, contested: the parties' returns, then the centre's ruling.

    An event has at most one open dispute (the partial unique index).
    """

    __table_args__ = (
        Index(
            "uq_dispute_open_event",
            "event_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    status: DisputeStatus = Field(
        default=DisputeStatus.OPEN, sa_type=StrEnumType(DisputeStatus, 16), index=True
    )
    trigger: DisputeTrigger = Field(sa_type=StrEnumType(DisputeTrigger, 32))
    reason: str | None = Field(default=None, max_length=2000)
    matter_code: str | None = Field(default=None, max_length=40)
    matter_list_id: int | None = Field(default=None, foreign_key="matter_list.id", sa_type=BigId)
    opened_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    opened_at: datetime = Field(default_factory=utcnow)
    ruled_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    ruled_at: datetime | None = None
    minutes_ref: str | None = Field(default=None, max_length=100)
    reasoning: str | None = Field(default=None, max_length=4000)
    lead_department_id: int | None = Field(default=None, foreign_key="department.id", sa_type=BigId)
    co_department_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


class DisputeParty(SQLModel, table=True):
    """One return a dispute holds: the department, its reason and the list clause it cited."""

    __tablename__ = "dispute_party"

    dispute_id: int = Field(foreign_key="dispute.id", primary_key=True, sa_type=BigId)
    assignment_id: int = Field(
        foreign_key="assignment.id", primary_key=True, index=True, sa_type=BigId
    )
    department_id: int = Field(foreign_key="department.id", index=True, sa_type=BigId)
    role: str = Field(max_length=16)
    return_reason: str | None = Field(default=None, max_length=2000)
    return_clause: str | None = Field(default=None, max_length=200)
    clause_code: str | None = Field(default=None, max_length=40)
    returned_at: datetime | None = None


class ListChangeKind(StrEnum):
    """What a change request does to the list."""

    MOVE_LEAD = "move_lead"
    ADD_CO = "add_co"
    ADD_KEYWORDS = "add_keywords"
    NEW_MATTER = "new_matter"


class ListChangeSource(StrEnum):
    """Where a change request came from: a ruling, or a written application."""

    RULING = "ruling"
    WRITTEN = "written"


class ListChangeStatus(StrEnum):
    """pending (with the staffing office) → accepted (in the draft) → published, or rejected."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PUBLISHED = "published"


class ListChange(SQLModel, table=True):
    """A request to change the county's list, with its basis, reasons and evidence.

    proposal holds what changes: lead_department_id (move_lead), co_department_ids
    (add_co), keywords (add_keywords), or a whole new matter (new_matter: name, lead,
    cooperators, duties, basis, limits).
    """

    __tablename__ = "list_change"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    county_code: str = Field(max_length=40, index=True)
    kind: ListChangeKind = Field(sa_type=StrEnumType(ListChangeKind, 16))
    matter_code: str = Field(max_length=40, index=True)
    proposal: dict[str, object] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    basis: str | None = Field(default=None, max_length=2000)  # 依据: the law or document relied on
    reasons: str = Field(max_length=4000)
    source: ListChangeSource = Field(sa_type=StrEnumType(ListChangeSource, 16))
    dispute_id: int | None = Field(
        default=None, foreign_key="dispute.id", index=True, sa_type=BigId
    )
    base_list_id: int | None = Field(default=None, foreign_key="matter_list.id", sa_type=BigId)
    applicant: str | None = Field(default=None, max_length=200)  # the department or township
    submitted_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    submitted_at: datetime = Field(default_factory=utcnow)
    status: ListChangeStatus = Field(
        default=ListChangeStatus.PENDING, sa_type=StrEnumType(ListChangeStatus, 16), index=True
    )
    reviewed_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    reviewed_at: datetime | None = None
    review_note: str | None = Field(default=None, max_length=2000)
    draft_list_id: int | None = Field(default=None, foreign_key="matter_list.id", sa_type=BigId)


class ListChangeEvent(SQLModel, table=True):
    """An event a change request cites as evidence."""

    __tablename__ = "list_change_event"

    change_id: int = Field(foreign_key="list_change.id", primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", primary_key=True, sa_type=BigId)
