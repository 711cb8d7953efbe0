"""Reference data and previews: health, jurisdictions, the list in force, locate, route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from dispatch.jobs.health import HealthPublic, check_health
from dispatch.reference.departments import department_list
from dispatch.reference.jurisdictions import jurisdictions_geojson, map_config
from dispatch.reference.schemas import (
    AppConfig,
    DepartmentPublic,
    JurisdictionCollection,
    MattersInForce,
    MatterSuggestions,
)
from dispatch.routing.schemas import PlacementPublic, RoutePreview, RoutePreviewResult
from dispatch.users.scopes import county_for
from geo.levels import Level
from service.deps import OptionalUser, RouterDep, SessionDep, SettingsDep

router = APIRouter()

CountyQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="县级辖区编码 county code; 默认: 登录用户所在的县，只导入了一个县时为该县",
    ),
]


def request_county(
    session: SessionDep, user: OptionalUser, county: CountyQuery = None
) -> str | None:
    """Return the county a request means; 422 naming `county` when it cannot be told."""
    return county_for(session, county, user)


def page_county(session: SessionDep, user: OptionalUser, county: CountyQuery = None) -> str | None:
    """Return the county a page asks about, or None for every county together."""
    return county_for(session, county, user, ambiguous_ok=True)


RequestCounty = Annotated[str | None, Depends(request_county)]
PageCounty = Annotated[str | None, Depends(page_county)]


@router.get("/health", responses={503: {"model": HealthPublic, "description": "降级 degraded"}})
def health(request: Request, response: Response) -> HealthPublic:
    """Report the database, Redis, the workers and routing: 200 when ok, 503 when degraded."""
    report = check_health(request.app.state.engine, request.app.state.redis)
    if report.status != "ok":
        response.status_code = 503
    return report.to_public()


@router.get("/jurisdictions")
def jurisdictions(
    session: SessionDep,
    level: Level,
    simplify_m: Annotated[float, Query(ge=0, le=1000, description="显示简化容差 (米)")] = 0.0,
) -> JurisdictionCollection:
    """Return one level of jurisdictions as a GeoJSON FeatureCollection."""
    return jurisdictions_geojson(session, level=level, simplify_m=simplify_m)


@router.get("/locate")
def locate(
    router_: RouterDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: str = "wgs84",
) -> PlacementPublic:
    """Return the jurisdiction chain of a point and whether it is near a boundary."""
    return router_.locate(lon, lat, crs).to_public()


@router.get("/matters")
def matters(session: SessionDep, router_: RouterDep, county: RequestCounty) -> MattersInForce:
    """Return the responsibility list in force now in the county."""
    return router_.list_in_force_summary(session, county)


@router.get("/matters/suggest")
def suggest_matters(
    session: SessionDep,
    router_: RouterDep,
    county: RequestCounty,
    text: Annotated[str, Query(max_length=4000, description="事件描述")],
) -> MatterSuggestions:
    """Suggest the three matters of the county's list a description most likely is."""
    found = router_.suggest(session, county, text) if text.strip() else []
    return MatterSuggestions(suggestions=found)


@router.get("/departments")
def departments(session: SessionDep) -> list[DepartmentPublic]:
    """Return every department, stationed unit and township platform."""
    return department_list(session)


@router.get("/config")
def config(session: SessionDep, settings: SettingsDep, county: PageCounty) -> AppConfig:
    """Return what the pages need to start: the map's tiles and centre, the county (or all)."""
    return map_config(session, settings, county)


@router.post("/route/preview")
def route_preview(
    body: RoutePreview, session: SessionDep, router_: RouterDep
) -> RoutePreviewResult:
    """Return the routing decision for a point and matter, creating nothing."""
    return router_.route(
        session,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        matter_code=body.matter_code,
        description=body.description,
        urgent=body.urgent,
    ).to_public()
