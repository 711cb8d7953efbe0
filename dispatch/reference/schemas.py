"""Response shapes of the reference data."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class CountySummary(SQLModel):
    """A county, or several together (code None), as a map needs it."""

    code: str | None
    name: str
    center: tuple[float, float] = Field(description="地图中心 [纬度, 经度] [lat, lon], WGS84")
