"""Response shapes of the reference data: jurisdictions (GeoJSON), lists in force, departments."""

from __future__ import annotations

import builtins
from datetime import date
from typing import Any, Literal

from sqlmodel import Field, SQLModel

from dispatch.reference.models import DepartmentKind, HandlingMode
from geo.levels import Level


class CountySummary(SQLModel):
    """A county, or several together (code None), as a map needs it."""

    code: str | None
    name: str
    center: tuple[float, float] = Field(description="地图中心 [纬度, 经度] [lat, lon], WGS84")


class AppConfig(SQLModel):
    """What the web pages need to start: the map's tile layer and centre, the county."""

    tile_url: str = Field(description="瓦片地址 https://…/{z}/{x}/{y}.png；空表示无底图")
    tile_attribution: str
    county_name: str | None
    center: tuple[float, float] | None = Field(
        description="地图中心 [纬度, 经度] [lat, lon]；无辖区时为 null"
    )
    near_boundary_m: float
    demo: bool = Field(
        default=False, description="演示模式：演示账号的密码是公开的 demo passwords are published"
    )


class JurisdictionProperties(SQLModel):
    """The properties of one jurisdiction feature."""

    code: str
    name: str
    level: Level
    parent_code: str | None
    population: int | None


class JurisdictionFeature(SQLModel):
    """A GeoJSON Feature: one jurisdiction and its WGS84 boundary."""

    type: Literal["Feature"] = "Feature"
    id: str
    properties: JurisdictionProperties
    geometry: dict[str, Any] = Field(
        description="GeoJSON Polygon 或 MultiPolygon (RFC 7946), WGS84 [lon, lat]"
    )


class JurisdictionCollection(SQLModel):
    """A GeoJSON FeatureCollection of one level of jurisdictions."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[JurisdictionFeature]


class MatterListRef(SQLModel):
    """Which version of which county's list is meant."""

    id: int | None
    county_code: str
    version: int
    effective_from: date | None


class MatterPublic(SQLModel):
    """One matter of the list in force, with its departments by name."""

    code: str
    name: str
    row_number: int
    platform_code: str | None
    platform: str | None
    keywords: list[str]
    mode: HandlingMode
    lead_department: str | None
    cooperating_departments: list[str | None]
    sign_hours: float | None
    handle_days: float | None


class MattersInForce(SQLModel):
    """The list in force in a county (null when it has none) and its matters."""

    list: MatterListRef | None
    matters: builtins.list[MatterPublic]


class MatterSuggestion(SQLModel):
    """A matter a description probably is, with its platform and a score in [0, 1]."""

    code: str
    name: str
    platform: str | None
    score: float


class MatterSuggestions(SQLModel):
    """The matters a description most likely is, best first."""

    suggestions: list[MatterSuggestion]


class DepartmentRef(SQLModel):
    """A department by id and name."""

    id: int
    name: str


class DepartmentBase(DepartmentRef):
    """What every shape of a department shows, the webhooks' included."""

    short_name: str | None
    kind: DepartmentKind


class DepartmentPublic(DepartmentBase):
    """A county department, stationed unit or township platform."""

    parent_id: int | None
    township_code: str | None
    platform_code: str | None
