"""Reference data and previews: health, jurisdictions, the list in force, locate, route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from dispatch.jobs.health import check_health
from dispatch.reference.departments import department_list
from dispatch.reference.jurisdictions import county_summary, jurisdictions_geojson
from geo.levels import Level
from service.deps import RouterDep, SessionDep, SettingsDep

router = APIRouter()


@router.get("/health")
def health(request: Request, response: Response) -> dict[str, Any]:
    """Report the database, Redis and the queues: 200 while the database answers, else 503."""
    report = check_health(request.app.state.engine, request.app.state.redis)
    if not report.database_ok:
        response.status_code = 503
    return report.to_dict()


@router.get("/jurisdictions")
def jurisdictions(
    session: SessionDep,
    level: Level,
    simplify_m: Annotated[float, Query(ge=0, le=1000, description="显示简化容差 (米)")] = 0.0,
) -> dict[str, Any]:
    """Return one level of jurisdictions as a GeoJSON FeatureCollection."""
    return jurisdictions_geojson(session, level=level, simplify_m=simplify_m)


class RoutePreview(BaseModel):
    """A point and a matter or description to route without creating an event."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = "wgs84"
    matter_code: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    urgent: bool = False


@router.get("/locate")
def locate(
    router_: RouterDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: str = "wgs84",
) -> dict[str, Any]:
    """Return the jurisdiction chain of a point and whether it is near a boundary."""
    return router_.locate(lon, lat, crs).to_dict()


@router.get("/matters")
def matters(session: SessionDep, router_: RouterDep) -> dict[str, Any]:
    """Return the responsibility list in force now."""
    return router_.list_in_force_summary(session)


@router.get("/matters/suggest")
def suggest_matters(
    session: SessionDep,
    router_: RouterDep,
    text: Annotated[str, Query(max_length=4000, description="事件描述")],
) -> dict[str, Any]:
    """Suggest the three matters a description most likely is, as the reporter types."""
    return {"suggestions": router_.suggest(session, text) if text.strip() else []}


@router.get("/departments")
def departments(session: SessionDep) -> list[dict[str, Any]]:
    """Return every department, stationed unit and township platform."""
    return department_list(session)


@router.get("/config")
def config(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Return what the web pages need to start: the map's tiles and centre, the county."""
    county = county_summary(session)
    return {
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "county_name": county["name"] if county else None,
        "center": county["center"] if county else None,
        "near_boundary_m": settings.near_boundary_m,
    }


@router.post("/route/preview")
def route_preview(body: RoutePreview, session: SessionDep, router_: RouterDep) -> dict[str, Any]:
    """Return the routing decision for a point and matter, creating nothing."""
    return router_.route(
        session,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        matter_code=body.matter_code,
        description=body.description,
        urgent=body.urgent,
    ).to_dict()
