"""The closed loop's tables: events, assignments, steps, attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType
from dispatch.reference import models as _reference  # noqa: F401  (tables our foreign keys name)
from dispatch.users import models as _users  # noqa: F401  (tables our foreign keys name)

# ---- The closed loop ---------------------------------------------------------------------


class EventStatus(StrEnum):
    """Where an event is in its closed loop (闭环)."""

    REPORTED = "reported"
    NEEDS_TRIAGE = "needs_triage"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    RATED = "rated"
    REOPENED = "reopened"
    INVALID = "invalid"
    MERGED = "merged"


class AssignmentStatus(StrEnum):
    """One department's part of an event: pending → signed → fed_back, or returned."""

    PENDING = "pending"
    SIGNED = "signed"
    FED_BACK = "fed_back"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class AssignmentRole(StrEnum):
    """Lead (牵头), cooperating (协办) or territorial (属地)."""

    LEAD = "lead"
    CO = "co"
    TERRITORIAL = "territorial"


class Event(SQLModel, table=True):
    """One reported problem, from intake to closing and rating."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    # The phone's idempotency key: the same client_id twice is one event, never two.
    client_id: str = Field(max_length=36, unique=True)
    status: EventStatus = Field(
        default=EventStatus.REPORTED, sa_type=StrEnumType(EventStatus, 16), index=True
    )
    source: str = Field(max_length=16)
    reported_at: datetime
    received_at: datetime = Field(default_factory=utcnow, index=True)
    reporter_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    raw_lon: float
    raw_lat: float
    crs: str = Field(max_length=8)
    lon: float
    lat: float
    address: str | None = Field(default=None, max_length=500)
    description: str = Field(max_length=4000)
    reported_matter_code: str | None = Field(default=None, max_length=40)
    urgent: bool = False
    handled_on_site: bool = False
    county_code: str | None = Field(default=None, max_length=40)
    township_code: str | None = Field(default=None, max_length=40, index=True)
    village_code: str | None = Field(default=None, max_length=40)
    grid_code: str | None = Field(default=None, max_length=40)
    near_boundary_code: str | None = Field(default=None, max_length=40)
    matter_code: str | None = Field(default=None, max_length=40, index=True)
    matter_list_id: int | None = Field(default=None, foreign_key="matter_list.id", sa_type=BigId)
    platform_code: str | None = Field(default=None, max_length=40, index=True)
    routing: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    routed_at: datetime | None = None
    sign_by: datetime | None = None
    handle_by: datetime | None = None
    closed_at: datetime | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    rework_count: int = 0
    merged_into_id: int | None = Field(default=None, foreign_key="event.id", sa_type=BigId)
    updated_at: datetime = Field(default_factory=utcnow)


class Assignment(SQLModel, table=True):
    """One department's part of an event; unique per round so a rerun job cannot double it."""

    __table_args__ = (UniqueConstraint("event_id", "department_id", "role", "round"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    department_id: int = Field(foreign_key="department.id", index=True, sa_type=BigId)
    role: AssignmentRole = Field(sa_type=StrEnumType(AssignmentRole, 16))
    round: int = Field(default=1, ge=1)
    status: AssignmentStatus = Field(
        default=AssignmentStatus.PENDING, sa_type=StrEnumType(AssignmentStatus, 16), index=True
    )
    on_behalf_of_id: int | None = Field(default=None, foreign_key="department.id", sa_type=BigId)
    duties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    duties_text: str | None = None
    sign_by: datetime | None = None
    handle_by: datetime | None = None
    signed_at: datetime | None = None
    fed_back_at: datetime | None = None
    feedback: str | None = Field(default=None, max_length=4000)
    return_reason: str | None = Field(default=None, max_length=2000)
    return_clause: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # How far the deadline warnings have gone: 0 none, 1 yellow (70% used), 2 red (overdue).
    sign_alert: int = Field(default=0, ge=0, le=2)
    handle_alert: int = Field(default=0, ge=0, le=2)


class Step(SQLModel, table=True):
    """One entry of an event's append-only timeline (流转记录): who, from, to, what, why, when."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", sa_type=BigId)
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    actor: str | None = Field(default=None, max_length=200)
    from_org: str | None = Field(default=None, max_length=200)
    to_org: str | None = Field(default=None, max_length=200)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=4000)
    data: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


class Attachment(SQLModel, table=True):
    """A photo attached to an event or to a department's feedback, stored on disk."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", sa_type=BigId)
    file_name: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=500)
    uploaded_by: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    uploaded_at: datetime = Field(default_factory=utcnow)
