"""SQLModel tables of the foundation: jurisdictions, departments and versioned matter lists."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class DepartmentKind(StrEnum):
    """What sort of organisation receives assignments."""

    COUNTY_DEPARTMENT = "county_department"
    STATIONED_UNIT = "stationed_unit"
    TOWNSHIP_PLATFORM = "township_platform"


class ListStatus(StrEnum):
    """Life cycle of one version of a matter list."""

    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


class HandlingMode(StrEnum):
    """Who does the work for a matter: a department, the township itself, or both together."""

    DEPARTMENT = "department"
    TOWNSHIP = "township"
    JOINT = "joint"


class JurisdictionRow(SQLModel, table=True):
    """One county, township, village or grid with its WGS84 boundary."""

    __tablename__ = "jurisdiction"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16, index=True)
    parent_code: str | None = Field(
        default=None, foreign_key="jurisdiction.code", index=True, max_length=40
    )
    geometry_wkb: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    population: int | None = Field(default=None, ge=0)
    source: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


class Platform(SQLModel, table=True):
    """A township platform (the four by default); names differ by county, so they are data."""

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100, unique=True)
    sort_order: int = 0


class Department(SQLModel, table=True):
    """A county department, one of its stationed units, or a township platform."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    short_name: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=32, index=True)
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    township_code: str | None = Field(default=None, foreign_key="jurisdiction.code", index=True)
    platform_code: str | None = Field(default=None, foreign_key="platform.code")
    authorised_staff: int | None = Field(default=None, ge=0)
    actual_staff: int | None = Field(default=None, ge=0)
    webhook_url: str | None = Field(default=None, max_length=1000)
    webhook_secret: str | None = Field(default=None, max_length=200)


class DepartmentCoverage(SQLModel, table=True):
    """A stationed unit covers a township."""

    __tablename__ = "department_coverage"

    department_id: int = Field(foreign_key="department.id", primary_key=True)
    township_code: str = Field(foreign_key="jurisdiction.code", primary_key=True, max_length=40)


class MatterList(SQLModel, table=True):
    """One version of a county's responsibility list (属地管理事项责任清单)."""

    __tablename__ = "matter_list"
    __table_args__ = (UniqueConstraint("county_code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(max_length=40, index=True)
    version: int = Field(ge=1)
    effective_from: date
    status: str = Field(default=ListStatus.DRAFT, max_length=16)
    source_document: str | None = Field(default=None, max_length=200)
    source_file: str | None = Field(default=None, max_length=500)
    imported_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    superseded_at: datetime | None = None


class Matter(SQLModel, table=True):
    """One row of a matter list: who leads, who cooperates, what the township does, how fast."""

    __table_args__ = (UniqueConstraint("list_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="matter_list.id", index=True)
    row_number: int = Field(ge=1, description="序号 in the published list")
    code: str = Field(max_length=40, index=True)
    name: str = Field(max_length=200)
    platform_code: str | None = Field(default=None, foreign_key="platform.code")
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    legal_basis: str | None = None
    lead_department_id: int | None = Field(default=None, foreign_key="department.id")
    department_duties: str | None = None
    township_duties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    township_duties_text: str | None = None
    handling_mode: str = Field(default=HandlingMode.DEPARTMENT, max_length=16)
    sign_hours: float | None = Field(default=None, gt=0)
    handle_days: float | None = Field(default=None, gt=0)
    urgent_sign_hours: float | None = Field(default=None, gt=0)
    urgent_handle_hours: float | None = Field(default=None, gt=0)


class MatterCooperator(SQLModel, table=True):
    """A cooperating department (协同部门) of a matter."""

    __tablename__ = "matter_cooperator"

    matter_id: int = Field(foreign_key="matter.id", primary_key=True)
    department_id: int = Field(foreign_key="department.id", primary_key=True)


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


class UserRole(StrEnum):
    """What a user may do; the scope says where."""

    GRID_WORKER = "grid_worker"
    TOWNSHIP_OPERATOR = "township_operator"
    DEPARTMENT_STAFF = "department_staff"
    COMMAND_CENTRE = "command_centre"
    ADMIN = "admin"


class User(SQLModel, table=True):
    """A person who signs in: a role and a scope (a township code or a department id)."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=500)
    role: str = Field(max_length=32)
    township_code: str | None = Field(default=None, foreign_key="jurisdiction.code")
    department_id: int | None = Field(default=None, foreign_key="department.id")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """One reported problem, from intake to closing and rating."""

    id: int | None = Field(default=None, primary_key=True)
    # The phone's idempotency key: the same client_id twice is one event, never two.
    client_id: str = Field(max_length=36, unique=True)
    status: str = Field(default=EventStatus.REPORTED, max_length=16, index=True)
    source: str = Field(max_length=16)
    reported_at: datetime
    received_at: datetime = Field(default_factory=utcnow, index=True)
    reporter_id: int | None = Field(default=None, foreign_key="app_user.id")
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
    matter_list_id: int | None = Field(default=None, foreign_key="matter_list.id")
    platform_code: str | None = Field(default=None, max_length=40, index=True)
    routing: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    routed_at: datetime | None = None
    sign_by: datetime | None = None
    handle_by: datetime | None = None
    closed_at: datetime | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    rework_count: int = 0
    merged_into_id: int | None = Field(default=None, foreign_key="event.id")
    updated_at: datetime = Field(default_factory=utcnow)


class Assignment(SQLModel, table=True):
    """One department's part of an event; unique per round so a rerun job cannot double it."""

    __table_args__ = (UniqueConstraint("event_id", "department_id", "role", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    role: str = Field(max_length=16)
    round: int = Field(default=1, ge=1)
    status: str = Field(default=AssignmentStatus.PENDING, max_length=16, index=True)
    on_behalf_of_id: int | None = Field(default=None, foreign_key="department.id")
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

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id")
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor: str | None = Field(default=None, max_length=200)
    from_org: str | None = Field(default=None, max_length=200)
    to_org: str | None = Field(default=None, max_length=200)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=4000)
    data: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


class Attachment(SQLModel, table=True):
    """A photo attached to an event or to a department's feedback, stored on disk."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id")
    file_name: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=500)
    uploaded_by: int | None = Field(default=None, foreign_key="app_user.id")
    uploaded_at: datetime = Field(default_factory=utcnow)


class CalendarDay(SQLModel, table=True):
    """A dated exception to the weekly rhythm: a public holiday, or a make-up workday (调休)."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    workday: bool
    name: str | None = Field(default=None, max_length=100)


class WebhookDelivery(SQLModel, table=True):
    """One attempt series to deliver an assignment to a department's own system."""

    __tablename__ = "webhook_delivery"

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    url: str = Field(max_length=1000)
    attempts: int = 0
    status: str = Field(default="pending", max_length=16)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=2000)
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
