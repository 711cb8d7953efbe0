"""Request and response shapes of the closed loop (the SQLModel families of HOUSE.md).

One family per entity: a base with what every shape shows, then the API's shapes and the
boards' cards built on it. The webhooks' parts (dispatch.delivery.webhooks) start from the
same bases.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import PlainSerializer, WithJsonSchema, field_validator, model_validator
from sqlmodel import Field, SQLModel

from dispatch.core.bounds import Moment
from dispatch.core.clock import as_utc
from dispatch.events.came_back import CameBack
from dispatch.events.models import AssignmentRole, AssignmentStatus, EventStatus
from geo.coords import Crs


class Source(StrEnum):
    """Where a report came from."""

    GRID = "grid"
    HOTLINE = "hotline"
    CITIZEN = "citizen"
    SENSOR = "sensor"
    INSPECTION = "inspection"


SOURCE_LABELS: dict[Source, str] = {
    Source.GRID: "网格员",
    Source.HOTLINE: "热线",
    Source.CITIZEN: "群众",
    Source.SENSOR: "感知设备",
    Source.INSPECTION: "巡查",
}


class Urgency(StrEnum):
    """How fast the matter's urgent time limits apply."""

    NORMAL = "normal"
    URGENT = "urgent"


class EventCreate(SQLModel):
    """What a phone (or the hotline) sends to report an event."""

    client_id: UUID = Field(description="由手机生成的 UUID，重复提交时返回同一事件")
    reported_at: Moment = Field(description="上报时间：2000 年以后，不晚于当前时间 10 分钟")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = Crs.WGS84
    address: str | None = Field(default=None, max_length=500)
    description: str = Field(min_length=1, max_length=4000)
    matter_code: str | None = Field(default=None, max_length=40)
    urgency: Urgency = Urgency.NORMAL
    source: Source = Source.GRID
    handled_on_site: bool = False
    on_site_note: str | None = Field(
        default=None,
        max_length=2000,
        description="即报即办时现场处置情况，记入流转记录（未即报即办时不采用）",
    )

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("描述不能为空")
        return value.strip()

    @field_validator("on_site_note")
    @classmethod
    def _blank_note_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("matter_code")
    @classmethod
    def _blank_code_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class StepPublic(SQLModel):
    """One line of an event's timeline."""

    id: int
    at: datetime
    action: str
    actor: str | None = Field(description="做这一步的人：显示名称（无则为角色名），或「系统」")
    actor_role: str | None = Field(default=None, description="做这一步的人的角色编码")
    from_org: str | None
    to_org: str | None
    from_status: str | None
    to_status: str | None
    reason: str | None
    assignment_id: int | None
    data: dict[str, Any] | None

    @model_validator(mode="before")
    @classmethod
    def _role_from_data(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("actor_role") is None:
            data = value.get("data")
            if isinstance(data, dict) and isinstance(data.get("actor_role"), str):
                return {**value, "actor_role": data["actor_role"]}
        return value


def _isoformat(moment: datetime) -> str:
    return as_utc(moment).isoformat()


# How the boards' cards and the webhooks spell a time: isoformat's "+00:00", where the API's
# JSON (pydantic's) says "Z". Both are ISO 8601; cards and webhooks keep the spelling their
# readers have always had.
WireTime = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


# ---- Assignments: AssignmentBase → AssignmentPublic (API) → AssignmentCard (boards) ------


class AssignmentBase(SQLModel):
    """What every shape of an assignment shows, the webhooks' included."""

    id: int
    role: AssignmentRole
    round: int
    status: AssignmentStatus
    duties: list[str]
    duties_text: str | None
    sign_by: datetime | None
    handle_by: datetime | None


class AssignmentPublic(AssignmentBase):
    """One department's part of an event."""

    event_id: int
    department_id: int
    department_name: str
    on_behalf_of_name: str | None
    signed_at: datetime | None
    fed_back_at: datetime | None
    feedback: str | None
    return_reason: str | None
    return_clause: str | None
    came_back: CameBack | None = None


class CameBackCard(CameBack):
    """Why a part came back, as a card spells its time."""

    at: WireTime


class AssignmentCard(AssignmentPublic):
    """An assignment on a board's card: also whom it answers for and its deadline alerts."""

    on_behalf_of_id: int | None
    created_at: WireTime
    # How far the deadline warnings have gone: 0 none, 1 yellow (70% used), 2 red (overdue).
    sign_alert: int
    handle_alert: int
    # The public shape's times, spelt as cards spell them.
    sign_by: WireTime | None
    handle_by: WireTime | None
    signed_at: WireTime | None
    fed_back_at: WireTime | None
    came_back: CameBackCard | None = None


class AssignmentRecord(AssignmentPublic):
    """One assignment in a department's history, with what its event is about."""

    created_at: datetime
    event_status: EventStatus
    event_description: str
    event_address: str | None
    event_received_at: datetime
    event_closed_at: datetime | None
    matter_code: str | None
    matter_name: str | None
    township_name: str | None


class AssignmentsPublic(SQLModel):
    """One page of a department's assignments."""

    data: list[AssignmentRecord]
    count: int
    offset: int
    limit: int


# ---- Events: EventBase → EventState → EventPublic, EventDetail (API) and EventCard (boards)


class EventBase(SQLModel):
    """What every shape of an event shows, the webhooks' included."""

    id: int
    description: str
    urgent: bool


class EventState(EventBase):
    """Where an event is and what it is about: what the API's lists and the boards both show."""

    status: EventStatus
    source: str
    received_at: datetime
    lon: float
    lat: float
    address: str | None
    township_code: str | None
    village_code: str | None
    grid_code: str | None
    matter_code: str | None
    platform_code: str | None
    sign_by: datetime | None
    handle_by: datetime | None
    closed_at: datetime | None
    rating: int | None
    rework_count: int


class EventPublic(EventState):
    """An event as lists show it."""

    client_id: str
    reported_at: datetime
    raw_lon: float
    raw_lat: float
    crs: str
    handled_on_site: bool
    county_code: str | None
    near_boundary_code: str | None


class EventCard(EventState):
    """An event as every board shows it: its names, its parts, a description cut short."""

    township_name: str | None
    village_name: str | None
    grid_name: str | None
    platform_name: str | None
    matter_name: str | None
    updated_at: WireTime
    assignments: list[AssignmentCard]
    # The shared times, spelt as cards spell them.
    received_at: WireTime
    sign_by: WireTime | None
    handle_by: WireTime | None
    closed_at: WireTime | None


class EventCards(SQLModel):
    """Cards asked for by id: what a board fetches when a delta names a card it lacks."""

    cards: list[EventCard]


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
