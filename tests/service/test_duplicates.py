"""Likely duplicates of an event and of a report not yet submitted, over HTTP."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from dispatch.events.duplicates import DUPLICATE_RADIUS_M, DUPLICATE_WINDOW, haversine_m
from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop

XINSHI = "320999004"
STALLS = "C-004"  # 占道经营
BUILDING = "C-001"  # 违法建设


def shifted(lon: float, lat: float, east_m: float) -> tuple[float, float]:
    """Return the point east_m metres east of (lon, lat)."""
    return lon + east_m / (111_320 * math.cos(math.radians(lat))), lat


def report(
    loop: Loop, lon: float, lat: float, at: datetime, matter: str | None = STALLS, **extra: Any
) -> int:
    """Report as the grid worker at a point and time; return the event id."""
    body = {
        "client_id": str(uuid4()),
        "reported_at": at.isoformat(),
        "lon": lon,
        "lat": lat,
        "description": "新市街菜场门口有流动摊贩占道卖菜，行人只能走机动车道",
        "matter_code": matter,
        **extra,
    }
    response = loop.client.post("/api/events", json=body, headers=loop.token("grid"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def candidates(loop: Loop, event_id: int, user: str = "centre") -> list[dict[str, Any]]:
    """Return the duplicate candidates of an event, as a user sees them."""
    response = loop.client.get(f"/api/events/{event_id}/duplicates", headers=loop.token(user))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["candidates"]
    return found


def test_haversine_measures_metres() -> None:
    assert haversine_m(119.8, 33.6, 119.8, 33.6) == 0
    one_degree_lat = haversine_m(119.8, 33.0, 119.8, 34.0)
    assert one_degree_lat == pytest.approx(111_195, rel=1e-3)
    # shifted() uses the equatorial 111.32 km a degree, the haversine the mean radius.
    east = haversine_m(*shifted(119.8, 33.6, 0), *shifted(119.8, 33.6, 150))
    assert east == pytest.approx(150, rel=3e-3)


def test_candidates_are_the_same_matter_near_in_space_and_time(loop: Loop) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=5)
    at = datetime.fromisoformat("2026-06-10T09:00:00+08:00")
    master = report(loop, lon, lat, at)
    near = report(loop, *shifted(lon, lat, 40), at + timedelta(hours=2))
    nearer_later = report(loop, *shifted(lon, lat, 10), at + timedelta(hours=30))
    other_matter = report(loop, *shifted(lon, lat, 20), at + timedelta(hours=1), matter=BUILDING)
    far = report(loop, *shifted(lon, lat, DUPLICATE_RADIUS_M + 150), at + timedelta(hours=1))
    too_old = report(loop, lon, lat, at - DUPLICATE_WINDOW - timedelta(hours=1))

    found = candidates(loop, master)
    ids = [c["id"] for c in found]
    assert set(ids) == {near, nearer_later}
    assert other_matter not in ids and far not in ids and too_old not in ids and master not in ids
    # Ranked by distance and time together: 40 m and 2 h before 10 m and 30 h.
    assert ids == [near, nearer_later]
    first = found[0]
    assert first["distance_m"] == pytest.approx(40, abs=2)
    assert first["age_hours"] == pytest.approx(2, abs=0.01)
    assert first["status"] == "reported" and first["matter_code"] == STALLS


def test_a_merged_event_is_no_longer_a_candidate(loop: Loop) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=6)
    at = datetime.fromisoformat("2026-07-10T09:00:00+08:00")
    master = report(loop, lon, lat, at)
    duplicate = report(loop, *shifted(lon, lat, 30), at + timedelta(hours=1))
    assert [c["id"] for c in candidates(loop, master)] == [duplicate]
    merged = loop.client.post(
        f"/api/events/{duplicate}/merge", json={"into_id": master}, headers=loop.token("centre")
    )
    assert merged.status_code == 200, merged.text
    assert candidates(loop, master) == []


def test_a_draft_finds_the_events_it_probably_repeats(loop: Loop) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=7)
    at = datetime.fromisoformat("2026-08-10T09:00:00+08:00")
    first = report(loop, lon, lat, at)
    second = report(loop, *shifted(lon, lat, 80), at + timedelta(hours=3))
    draft = {"lon": lon, "lat": lat, "matter_code": STALLS, "reported_at": at.isoformat()}
    response = loop.client.post("/api/duplicates", json=draft, headers=loop.token("grid"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["id"] for c in body["candidates"]] == [first, second]
    assert body["radius_m"] == DUPLICATE_RADIUS_M and body["window_hours"] == 72
    other = {**draft, "matter_code": BUILDING}
    refused = loop.client.post("/api/duplicates", json=other, headers=loop.token("grid"))
    assert refused.json()["candidates"] == []


def test_a_draft_without_a_matter_uses_the_suggested_one(loop: Loop) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=8)
    at = datetime.fromisoformat("2026-09-10T09:00:00+08:00")
    existing = report(loop, lon, lat, at)
    draft = {
        "lon": lon,
        "lat": lat,
        "description": "菜市场门口有人占道经营卖菜，堵住了人行道",
        "reported_at": (at + timedelta(hours=1)).isoformat(),
    }
    response = loop.client.post("/api/duplicates", json=draft, headers=loop.token("grid"))
    assert response.status_code == 200, response.text
    assert response.json()["matter_codes"] == [STALLS]
    assert [c["id"] for c in response.json()["candidates"]] == [existing]


def test_who_may_ask(loop: Loop) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=9)
    draft = {"lon": lon, "lat": lat, "matter_code": STALLS}
    staff = loop.client.post("/api/duplicates", json=draft, headers=loop.token("zhifa"))
    assert staff.status_code == 403
    outside = {"lon": 118.0, "lat": 31.0, "matter_code": STALLS}
    nowhere = loop.client.post("/api/duplicates", json=outside, headers=loop.token("grid"))
    assert nowhere.status_code == 200 and nowhere.json()["candidates"] == []
    missing = loop.client.get("/api/events/987654321/duplicates", headers=loop.token("centre"))
    assert missing.status_code == 404
