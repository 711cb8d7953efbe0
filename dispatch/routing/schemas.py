"""Request and response shapes of locating and routing previews."""

from __future__ import annotations

from typing import Literal

from sqlmodel import Field, SQLModel

from dispatch.reference.models import HandlingMode
from geo.levels import Level


class RoutePreview(SQLModel):
    """A point and a matter or description to route without creating an event."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = "wgs84"
    matter_code: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    urgent: bool = False


class RawPoint(SQLModel):
    """A point as reported, in its coordinate system."""

    lon: float
    lat: float
    crs: str


class Wgs84Point(SQLModel):
    """A point in WGS84."""

    lon: float
    lat: float


class ChainItem(SQLModel):
    """One jurisdiction of a location's chain, county first."""

    code: str
    name: str
    level: Level


class NearBoundary(SQLModel):
    """The other jurisdiction a point is close to, and the level at which they differ."""

    code: str
    name: str
    level: Level
    distance_m: float
    differs_at: Level


class PlacementPublic(SQLModel):
    """Where a point is: as given, in WGS84, its chain (empty: outside everything) and why."""

    raw: RawPoint
    wgs84: Wgs84Point
    chain: list[ChainItem]
    near_boundary: NearBoundary | None
    reason: str | None


class PlacePublic(SQLModel):
    """A jurisdiction or platform by code and name."""

    code: str
    name: str


class MatterRefPublic(SQLModel):
    """The matter that routes the event, and the list version it comes from."""

    code: str
    name: str
    row_number: int
    list_id: int | None
    list_version: int
    mode: HandlingMode


class PlannedPartPublic(SQLModel):
    """One department's part in the plan; a stationed unit names the department it acts for."""

    department_id: int
    department_name: str
    role: Literal["lead", "co", "territorial"]
    on_behalf_of_id: int | None
    on_behalf_of_name: str | None
    duties: list[str]
    duties_text: str | None


class TimeLimitsPublic(SQLModel):
    """How long the lead has: hours to sign, then working days (or, when urgent, hours)."""

    urgent: bool
    sign_hours: float | None
    handle_days: float | None
    handle_hours: float | None


class SuggestionPublic(SQLModel):
    """A candidate matter for a description, its score in [0, 1], and why."""

    code: str
    name: str
    score: float
    why: str


class NeighbourPublic(SQLModel):
    """Another jurisdiction within the near distance of the point."""

    code: str
    name: str
    level: Level
    distance_m: float
    differs_at: Level


class RoutingDecisionPublic(SQLModel):
    """Where an event goes and why; on needs_triage, why a person must decide."""

    outcome: Literal["routed", "needs_triage"]
    county: PlacePublic | None
    township: PlacePublic | None
    village: PlacePublic | None
    grid: PlacePublic | None
    platform: PlacePublic | None
    matter: MatterRefPublic | None
    lead: PlannedPartPublic | None
    cooperators: list[PlannedPartPublic]
    territorial: PlannedPartPublic | None
    limits: TimeLimitsPublic | None
    reasons: list[str]
    triage_reasons: list[str]
    suggestions: list[SuggestionPublic]
    classified: bool
    near_boundary: NeighbourPublic | None


class RoutePreviewResult(SQLModel):
    """Where the point is and the routing decision taken there."""

    location: PlacementPublic
    decision: RoutingDecisionPublic
