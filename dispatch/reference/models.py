"""Reference tables: jurisdictions, departments, versioned matter lists, the calendar."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType


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


KIND_LABELS: dict[DepartmentKind, str] = {
    DepartmentKind.COUNTY_DEPARTMENT: "县级部门",
    DepartmentKind.STATIONED_UNIT: "派驻机构",
    DepartmentKind.TOWNSHIP_PLATFORM: "乡镇平台",
}

LIST_STATUS_LABELS: dict[ListStatus, str] = {
    ListStatus.DRAFT: "草稿",
    ListStatus.PUBLISHED: "已发布",
    ListStatus.SUPERSEDED: "已被替代",
}

MODE_LABELS: dict[HandlingMode, str] = {
    HandlingMode.DEPARTMENT: "部门处置",
    HandlingMode.TOWNSHIP: "乡镇自办",
    HandlingMode.JOINT: "联合处置",
}


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

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    name: str = Field(max_length=200, unique=True)
    short_name: str | None = Field(default=None, max_length=100)
    kind: DepartmentKind = Field(sa_type=StrEnumType(DepartmentKind, 32), index=True)
    parent_id: int | None = Field(
        default=None, foreign_key="department.id", index=True, sa_type=BigId
    )
    township_code: str | None = Field(default=None, foreign_key="jurisdiction.code", index=True)
    platform_code: str | None = Field(default=None, foreign_key="platform.code")
    authorised_staff: int | None = Field(default=None, ge=0)
    actual_staff: int | None = Field(default=None, ge=0)
    webhook_url: str | None = Field(default=None, max_length=1000)
    webhook_secret: str | None = Field(default=None, max_length=200)


class DepartmentCoverage(SQLModel, table=True):
    """A stationed unit covers a township."""

    __tablename__ = "department_coverage"

    department_id: int = Field(foreign_key="department.id", primary_key=True, sa_type=BigId)
    township_code: str = Field(foreign_key="jurisdiction.code", primary_key=True, max_length=40)


class MatterList(SQLModel, table=True):
    """One version of a county's responsibility list (属地管理事项责任清单)."""

    __tablename__ = "matter_list"
    __table_args__ = (UniqueConstraint("county_code", "version"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    county_code: str = Field(max_length=40, index=True)
    version: int = Field(ge=1)
    effective_from: date
    status: ListStatus = Field(default=ListStatus.DRAFT, sa_type=StrEnumType(ListStatus, 16))
    source_document: str | None = Field(default=None, max_length=200)
    source_file: str | None = Field(default=None, max_length=500)
    imported_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    superseded_at: datetime | None = None


class Matter(SQLModel, table=True):
    """One row of a matter list: who leads, who cooperates, what the township does, how fast."""

    __table_args__ = (UniqueConstraint("list_id", "code"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    list_id: int = Field(foreign_key="matter_list.id", index=True, sa_type=BigId)
    row_number: int = Field(ge=1, description="序号 in the published list")
    code: str = Field(max_length=40, index=True)
    name: str = Field(max_length=200)
    platform_code: str | None = Field(default=None, foreign_key="platform.code")
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    legal_basis: str | None = None
    lead_department_id: int | None = Field(default=None, foreign_key="department.id", sa_type=BigId)
    department_duties: str | None = None
    township_duties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    township_duties_text: str | None = None
    handling_mode: HandlingMode = Field(
        default=HandlingMode.DEPARTMENT, sa_type=StrEnumType(HandlingMode, 16)
    )
    sign_hours: float | None = Field(default=None, gt=0)
    handle_days: float | None = Field(default=None, gt=0)
    urgent_sign_hours: float | None = Field(default=None, gt=0)
    urgent_handle_hours: float | None = Field(default=None, gt=0)


class MatterCooperator(SQLModel, table=True):
    """A cooperating department (协同部门) of a matter."""

    __tablename__ = "matter_cooperator"

    matter_id: int = Field(foreign_key="matter.id", primary_key=True, sa_type=BigId)
    department_id: int = Field(foreign_key="department.id", primary_key=True, sa_type=BigId)


class CalendarDay(SQLModel, table=True):
    """A dated exception to the weekly rhythm: a public holiday, or a make-up workday (调休)."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    workday: bool
    name: str | None = Field(default=None, max_length=100)


class ReferenceGeneration(SQLModel, table=True):
    """One counter that every change to reference data moves on (a single row, id 1).

    Jurisdictions, departments, lists and the calendar are built into in-memory indexes by
    every API and worker process; each process compares this counter with the one it built
    from and rebuilds when it moved.
    """

    __tablename__ = "reference_generation"

    id: int = Field(default=1, primary_key=True, sa_type=BigId)
    generation: int = Field(default=0, ge=0)
    changed_at: datetime = Field(default_factory=utcnow)
    what: str | None = Field(default=None, max_length=200)


DEFAULT_SUPERVISION_RULES: list[dict[str, object]] = [
    {"deadline": "sign", "overdue_working_days": 0, "level": "normal"},
    {"deadline": "handle", "overdue_working_days": 1, "level": "yellow"},
    {"deadline": "handle", "overdue_working_days": 3, "level": "red"},
]


# The 红黑榜's composite score: each measure's weight (dispatch/reports/measures.py says what
# each is; lower-is-better rates count as 1 − rate). They sum to 1, so the score is 0–100.
DEFAULT_RANKING_WEIGHTS: dict[str, float] = {
    "on_time_sign_rate": 0.15,
    "on_time_completion_rate": 0.30,
    "completion_rate": 0.15,
    "return_rate": 0.10,
    "rework_rate": 0.10,
    "satisfaction_rate": 0.20,
}


class CountyRules(SQLModel, table=True):
    """A county's own settings for the loop's side paths; a county without a row has the defaults.

    supervision_rules: which notice (level) the scheduler issues when a deadline ("sign" or
    "handle") is overdue by a number of working days (0: as soon as it passes).
    """

    __tablename__ = "county_rules"

    county_code: str = Field(foreign_key="jurisdiction.code", primary_key=True, max_length=40)
    extension_limit_days: int = Field(default=20, ge=0, le=366)
    escalation_sign_hours: float = Field(default=2.0, gt=0, le=720)
    supervision_rules: list[dict[str, object]] = Field(
        default_factory=lambda: [dict(r) for r in DEFAULT_SUPERVISION_RULES],
        sa_column=Column(JSON, nullable=False),
    )
    # The 红黑榜's weights by measure, and each matter's weight in the staffing evidence
    # (matter code → weight); None: the defaults in dispatch/reports/measures.py, weight 1.
    ranking_weights: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))
    matter_weights: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)
