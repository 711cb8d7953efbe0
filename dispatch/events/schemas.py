"""Request and response shapes of the closed loop (the SQLModel families of HOUSE.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from dispatch.events.models import AssignmentRole, AssignmentStatus, EventStatus
from geo.coords import Crs


class Source(StrEnum):
    """Where a report came from."""

    GRID = "grid"
    HOTLINE = "hotline"
    CITIZEN = "citizen"
    SENSOR = "sensor"
    INSPECTION = "inspection"


class Urgency(StrEnum):
    """How fast the matter's urgent time limits apply."""

    NORMAL = "normal"
    URGENT = "urgent"


class EventCreate(SQLModel):
    """What a phone (or the hotline) sends to report an event."""

    client_id: UUID = Field(description="由手机生成的 UUID，重复提交时返回同一事件")
    reported_at: datetime
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = Crs.WGS84
    address: str | None = Field(default=None, max_length=500)
    description: str = Field(min_length=1, max_length=4000)
    matter_code: str | None = Field(default=None, max_length=40)
    urgency: Urgency = Urgency.NORMAL
    source: Source = Source.GRID
    handled_on_site: bool = False

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("描述不能为空 description must not be blank")
        return value.strip()

    @field_validator("matter_code")
    @classmethod
    def _blank_code_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class StepPublic(SQLModel):
    """One line of an event's timeline."""

    id: int
    at: datetime
    action: str
    actor: str | None
    from_org: str | None
    to_org: str | None
    from_status: str | None
    to_status: str | None
    reason: str | None
    assignment_id: int | None
    data: dict[str, Any] | None


class AssignmentPublic(SQLModel):
    """One department's part of an event."""

    id: int
    event_id: int
    department_id: int
    department_name: str
    on_behalf_of_name: str | None
    role: AssignmentRole
    round: int
    status: AssignmentStatus
    duties: list[str]
    duties_text: str | None
    sign_by: datetime | None
    handle_by: datetime | None
    signed_at: datetime | None
    fed_back_at: datetime | None
    feedback: str | None
    return_reason: str | None
    return_clause: str | None


class EventPublic(SQLModel):
    """An event as lists show it."""

    id: int
    client_id: str
    status: EventStatus
    source: str
    reported_at: datetime
    received_at: datetime
    lon: float
    lat: float
    raw_lon: float
    raw_lat: float
    crs: str
    address: str | None
    description: str
    urgent: bool
    handled_on_site: bool
    county_code: str | None
    township_code: str | None
    village_code: str | None
    grid_code: str | None
    near_boundary_code: str | None
    matter_code: str | None
    platform_code: str | None
    sign_by: datetime | None
    handle_by: datetime | None
    closed_at: datetime | None
    rating: int | None
    rework_count: int


class AttachmentPublic(SQLModel):
    """A photo of an event or of a department's feedback; its bytes at /api/attachments/{id}."""

    id: int
    assignment_id: int | None
    file_name: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime


class EventDetail(EventPublic):
    """An event with its assignments, its whole timeline and the routing decision."""

    routing: dict[str, Any] | None
    assignments: list[AssignmentPublic]
    steps: list[StepPublic]
    attachments: list[AttachmentPublic] = []


class EventsPublic(SQLModel):
    """One page of events."""

    data: list[EventPublic]
    count: int
    offset: int
    limit: int
