"""The closed loop's tables: events, assignments, steps, attachments, and the side paths
(supervision notices, extension requests, escalations)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType
from dispatch.events.deadlines import INDEX_NAMES, key_sql, live_condition
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


def _due_index(deadline: Literal["sign", "handle"]) -> Index:
    """Declare a deadline's partial index on its due key (events.deadlines), as PostgreSQL has it.

    SQLite's twin (on Julian days) is migration 0011's; Alembic compares no SQLite expression
    index, and the schema is only ever built by the migrations.
    """
    return Index(
        INDEX_NAMES[deadline],
        text(key_sql(deadline, "postgresql")),
        f"{deadline}_alert",
        postgresql_where=text(live_condition(deadline)),
    ).ddl_if(dialect="postgresql")


class Assignment(SQLModel, table=True):
    """One department's part of an event; unique per round so a rerun job cannot double it."""

    __table_args__ = (
        UniqueConstraint("event_id", "department_id", "role", "round"),
        _due_index("sign"),
        _due_index("handle"),
    )

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
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # What the assessment counts, kept by the one place parts move (loop/parts.move_assignment):
    # the first answer (a sign or a return), how often it was returned and sent back to rework.
    answered_at: datetime | None = None
    returns: int = Field(default=0, ge=0)
    reworks: int = Field(default=0, ge=0)
    # How far the deadline warnings have gone: 0 none, 1 yellow (70% used), 2 red (overdue).
    sign_alert: int = Field(default=0, ge=0, le=2)
    handle_alert: int = Field(default=0, ge=0, le=2)


class Step(SQLModel, table=True):
    """One entry of an event's append-only timeline (流转记录): who, from, to, what, why, when."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int | None = Field(
        default=None, foreign_key="assignment.id", index=True, sa_type=BigId
    )
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


# ---- The loop's side paths: supervision notices, extensions, escalations ------------------


class NoticeLevel(StrEnum):
    """How hard a supervision notice (督办) presses: a reminder, a yellow or a red card."""

    NORMAL = "normal"
    YELLOW = "yellow"
    RED = "red"


class NoticeStatus(StrEnum):
    """open (awaiting the department's reply) → acknowledged → closed (the part fed back)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class SupervisionNotice(SQLModel, table=True):
    """One 督办 notice on a live assignment, by hand (with a note) or by a county rule.

    A rule issues each level at most once per assignment (the partial unique index).
    """

    __tablename__ = "supervision_notice"
    __table_args__ = (
        Index(
            "uq_supervision_notice_rule_level",
            "assignment_id",
            "level",
            unique=True,
            sqlite_where=text("automatic"),
            postgresql_where=text("automatic"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, sa_type=BigId)
    level: NoticeLevel = Field(sa_type=StrEnumType(NoticeLevel, 16))
    status: NoticeStatus = Field(
        default=NoticeStatus.OPEN, sa_type=StrEnumType(NoticeStatus, 16), index=True
    )
    automatic: bool = False
    rule: str | None = Field(default=None, max_length=100)  # which county rule issued it
    note: str = Field(max_length=2000)
    issued_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    issued_at: datetime = Field(default_factory=utcnow)
    reply: str | None = Field(default=None, max_length=2000)
    replied_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    replied_at: datetime | None = None
    closed_at: datetime | None = None


class ExtensionStatus(StrEnum):
    """A request for more time (延期): pending → approved, refused, or lapsed (已失效)."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    LAPSED = "lapsed"


class ExtensionRequest(SQLModel, table=True):
    """A department's request for N more working days on its handling deadline.

    At most one request per assignment is pending at a time (the partial unique index).
    """

    __tablename__ = "extension_request"
    __table_args__ = (
        Index(
            "uq_extension_request_pending",
            "assignment_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, sa_type=BigId)
    working_days: int = Field(ge=1, le=366)
    reason: str = Field(max_length=2000)
    status: ExtensionStatus = Field(
        default=ExtensionStatus.PENDING, sa_type=StrEnumType(ExtensionStatus, 16), index=True
    )
    requested_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    requested_at: datetime = Field(default_factory=utcnow)
    granted_days: int | None = Field(default=None, ge=0, le=366)
    decided_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    decided_at: datetime | None = None
    decision_note: str | None = Field(default=None, max_length=2000)
    handle_by_before: datetime | None = None
    handle_by_after: datetime | None = None


class EscalationStatus(StrEnum):
    """乡呼县应: waiting for the centre → answered (a county department given the part)."""

    WAITING = "waiting"
    ANSWERED = "answered"


class Escalation(SQLModel, table=True):
    """A township's call to the county (乡呼) on a part it cannot handle, and the answer (县应).

    The response is timed from the call: respond_by is the call plus the county's limit,
    responded_at is when the county department signed.
    """

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="event.id", index=True, sa_type=BigId)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, sa_type=BigId)
    township_code: str | None = Field(default=None, max_length=40, index=True)
    reason: str = Field(max_length=2000)
    status: EscalationStatus = Field(
        default=EscalationStatus.WAITING, sa_type=StrEnumType(EscalationStatus, 16), index=True
    )
    called_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    called_at: datetime = Field(default_factory=utcnow)
    answered_by_id: int | None = Field(default=None, foreign_key="app_user.id", sa_type=BigId)
    answered_at: datetime | None = None
    department_id: int | None = Field(default=None, foreign_key="department.id", sa_type=BigId)
    response_assignment_id: int | None = Field(
        default=None, foreign_key="assignment.id", index=True, sa_type=BigId
    )
    respond_by: datetime | None = None
    responded_at: datetime | None = None
