"""The read-only API over the demo county: reference data, locate, route preview, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dispatch.core.settings import Settings
from dispatch.reference.lists.classify import SUGGESTION_FLOOR
from service.app import create_app
from tests.helpers import demo_grid_point


@pytest.fixture(scope="module")
def client(demo_database_url: str) -> Iterator[TestClient]:
    """Serve the app over the demo database."""
    with TestClient(create_app(Settings(DATABASE_URL=demo_database_url))) as client:
        yield client


def test_health_reports_the_database(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 503, "no Redis here: nothing would route"
    assert response.json()["database"] == "ok"


def test_jurisdictions_are_served_as_geojson_per_level(client: TestClient) -> None:
    response = client.get("/api/jurisdictions", params={"level": "township", "simplify_m": 20})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 12
    first = body["features"][0]["properties"]
    assert first["level"] == "township" and first["parent_code"] == "320999"


def test_unknown_level_is_a_422_naming_the_parameter(client: TestClient) -> None:
    response = client.get("/api/jurisdictions", params={"level": "province"})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "query.level"


def test_locate_converts_gcj02_and_returns_the_chain(client: TestClient) -> None:
    lon, lat = demo_grid_point("320999006")
    wgs = client.get("/api/locate", params={"lon": lon, "lat": lat}).json()
    assert [j["level"] for j in wgs["chain"]] == ["county", "township", "village", "grid"]
    assert wgs["chain"][1]["name"] == "沙河镇"

    # The same place as a phone app on Amap reports it: shifted by a few hundred metres.
    from geo.coords import Crs, from_wgs84

    gx, gy = from_wgs84(lon, lat, Crs.GCJ02)
    gcj = client.get("/api/locate", params={"lon": gx, "lat": gy, "crs": "gcj02"}).json()
    assert gcj["chain"] == wgs["chain"]
    assert abs(gcj["wgs84"]["lon"] - lon) < 1e-6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 200, "lat": 30}, "query.lon"),
        ({"lon": 119.8, "lat": 95}, "query.lat"),
        ({"lon": "abc", "lat": 30}, "query.lon"),
        ({"lon": 119.8, "lat": 33.5, "crs": "utm"}, "crs"),
    ],
)
def test_locate_rejects_bad_coordinates_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/api/locate", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == field


def test_matters_in_force_are_version_2(client: TestClient) -> None:
    body = client.get("/api/matters").json()
    assert body["list"]["version"] == 2
    codes = {m["code"] for m in body["matters"]}
    assert len(codes) == 61 and "A-016" in codes


def test_route_preview_by_description(client: TestClient) -> None:
    lon, lat = demo_grid_point("320999004")
    response = client.post(
        "/api/route/preview",
        json={"lon": lon, "lat": lat, "description": "河边有人烧垃圾，黑烟很大，味道刺鼻"},
    )
    assert response.status_code == 200
    decision = response.json()["decision"]
    assert decision["suggestions"], decision
    assert decision["township"]["name"] == "新市镇"


def test_route_preview_with_unknown_matter_needs_triage_naming_it(client: TestClient) -> None:
    lon, lat = demo_grid_point("320999004")
    response = client.post(
        "/api/route/preview", json={"lon": lon, "lat": lat, "matter_code": "Z-999"}
    )
    assert response.status_code == 200
    decision = response.json()["decision"]
    assert decision["outcome"] == "needs_triage"
    assert any("Z-999" in reason for reason in decision["triage_reasons"])


def test_malformed_json_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/api/route/preview",
        content=b'{"lon": 119.8, "lat": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]["message"]


def test_config_tells_the_pages_the_county_and_an_empty_tile_layer(client: TestClient) -> None:
    body = client.get("/api/config").json()
    assert body["tile_url"] == ""  # offline by default: a plain background
    assert "清河县" in body["county_name"]
    lat, lon = body["center"]
    assert 30 < lat < 36 and 116 < lon < 122  # inside Jiangsu, as [lat, lon] for Leaflet
    assert body["near_boundary_m"] == 50


def test_departments_list_every_kind(client: TestClient) -> None:
    departments = client.get("/api/departments").json()
    kinds = {d["kind"] for d in departments}
    assert kinds == {"county_department", "stationed_unit", "township_platform"}
    units = [d for d in departments if d["kind"] == "stationed_unit"]
    assert all(u["parent_id"] for u in units)
    assert departments[0]["kind"] == "county_department"


def test_suggestions_follow_the_description(client: TestClient) -> None:
    body = client.get("/api/matters/suggest", params={"text": "路边流动摊贩占道经营卖水果"}).json()
    suggestions = body["suggestions"]
    assert 1 <= len(suggestions) <= 3
    assert "占道" in suggestions[0]["name"] or "摊" in suggestions[0]["name"]
    assert 0 < suggestions[0]["score"] <= 1
    assert client.get("/api/matters/suggest", params={"text": " "}).json() == {"suggestions": []}


def test_a_vague_description_gets_no_suggestion_and_a_clear_one_does(client: TestClient) -> None:
    vague = client.get("/api/matters/suggest", params={"text": "村口那边有点情况，麻烦来看看"})
    assert vague.json() == {"suggestions": []}
    clear = client.get(
        "/api/matters/suggest", params={"text": "菜市场门口有人占道经营，堵塞人行道"}
    )
    suggestions = clear.json()["suggestions"]
    assert suggestions[0]["code"] == "C-004"
    assert all(s["score"] >= SUGGESTION_FLOOR for s in suggestions)


def test_the_pages_say_how_to_build_them_when_they_are_missing(
    demo_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(DATABASE_URL=demo_database_url, frontend_dir=tmp_path / "absent")
    with TestClient(create_app(settings)) as bare:
        response = bare.get("/")
    assert response.status_code == 503 and "npm run build" in response.text


@pytest.mark.parametrize(
    ("method", "path", "schema"),
    [
        ("get", "/api/health", "HealthPublic"),
        ("get", "/api/jurisdictions", "JurisdictionCollection"),
        ("get", "/api/locate", "PlacementPublic"),
        ("get", "/api/matters", "MattersInForce"),
        ("get", "/api/matters/suggest", "MatterSuggestions"),
        ("get", "/api/departments", "DepartmentPublic"),
        ("get", "/api/config", "AppConfig"),
        ("post", "/api/route/preview", "RoutePreviewResult"),
    ],
)
def test_the_openapi_document_names_each_reference_response(
    client: TestClient, method: str, path: str, schema: str
) -> None:
    document = client.get("/openapi.json").json()
    content = document["paths"][path][method]["responses"]["200"]["content"]
    described = content["application/json"]["schema"]
    ref = described.get("$ref") or described.get("items", {}).get("$ref")
    assert ref == f"#/components/schemas/{schema}"
    assert document["components"]["schemas"][schema]["properties"]


def test_matters_take_a_county_parameter_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path in ("/api/matters", "/api/matters/suggest", "/api/config"):
        names = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert "county" in names, path
