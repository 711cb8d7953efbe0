"""Likely duplicates (重复事件): open events of the same matter, close in space and time.

A grid worker about to report, and the command centre before merging, see the events that
probably are the same problem: the same matter (the one reported, routed or suggested),
within DUPLICATE_RADIUS_M on the ground and DUPLICATE_WINDOW of the report, still open to a
merge (`lifecycle.MERGEABLE`). Nearest first, by distance and time together.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, or_, select

from dispatch.core.bounds import Moment
from dispatch.core.clock import as_aware, as_utc, utcnow
from dispatch.events.lifecycle import MERGEABLE
from dispatch.events.models import Assignment, Event, EventStatus
from dispatch.routing.router import Router
from dispatch.users.policy import Visibility
from geo.levels import Level

# Two reports of one stall, drain or building are seldom further apart than a street block
# (and a phone's fix in town is good to some tens of metres): 200 m catches those and
# leaves the next street's problem of the same kind alone.
DUPLICATE_RADIUS_M = 200.0
# Three days: a problem reported again over a weekend is still the same one; older ones
# are being handled and a new report is more likely a new occurrence.
DUPLICATE_WINDOW = timedelta(hours=72)
# Never more than this many candidates: a page lists them for a person to compare.
MAX_CANDIDATES = 10
EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180


class DuplicateCandidate(SQLModel):
    """An event that is probably the same problem, how far away and how far apart in time."""

    id: int
    status: EventStatus
    description: str
    address: str | None
    matter_code: str | None
    township_code: str | None
    reported_at: datetime
    lon: float
    lat: float
    distance_m: float
    age_hours: float


class DuplicateCandidates(SQLModel):
    """The candidates, nearest first, and the rule that found them."""

    matter_codes: list[str]
    radius_m: float
    window_hours: float
    candidates: list[DuplicateCandidate]


class DraftProbe(SQLModel):
    """A report not yet submitted: where, what (a matter, or a description to suggest one), when."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = Field(default="wgs84", max_length=16)
    matter_code: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    reported_at: Moment | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """What a report (stored or still a draft) looks like to the search."""

    lon: float
    lat: float
    at: datetime
    matter_codes: frozenset[str]
    exclude_id: int | None = None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def matter_codes_of(event: Event) -> frozenset[str]:
    """Return the matters an event is about: the one routed and the one its reporter chose."""
    return frozenset(c for c in (event.matter_code, event.reported_matter_code) if c)


def probe_of(event: Event, suggested: Collection[str] = ()) -> Probe:
    """Describe a stored event to the search; suggested matters stand in when it has none."""
    assert event.id is not None
    codes = matter_codes_of(event) or frozenset(suggested)
    return Probe(event.lon, event.lat, as_utc(event.reported_at), codes, exclude_id=event.id)


def suggested_matter(
    session: Session, router: Router, county_code: str | None, text: str | None
) -> frozenset[str]:
    """Return the matter a description confidently suggests (the router's threshold), if any."""
    if not text or not text.strip():
        return frozenset()
    best = router.suggest(session, county_code, text, k=1)
    return frozenset(s.code for s in best if s.score >= router.threshold)


def event_duplicates(
    session: Session, router: Router, event: Event, seen: Visibility | None
) -> DuplicateCandidates:
    """Return the likely duplicates of a stored event."""
    suggested: frozenset[str] = frozenset()
    if not matter_codes_of(event):
        suggested = suggested_matter(session, router, event.county_code, event.description)
    return find_duplicates(session, probe_of(event, suggested), seen)


def draft_duplicates(
    session: Session, router: Router, draft: DraftProbe, seen: Visibility | None
) -> DuplicateCandidates:
    """Return the likely duplicates of a report about to be submitted."""
    placement = router.locate(draft.lon, draft.lat, draft.crs)
    codes = frozenset({draft.matter_code}) if draft.matter_code else frozenset()
    if not codes:
        county = placement.location.at(Level.COUNTY)
        codes = suggested_matter(
            session, router, county.code if county else None, draft.description
        )
    at = as_aware(draft.reported_at) if draft.reported_at else utcnow()
    probe = Probe(placement.wgs84_lon, placement.wgs84_lat, at, codes)
    return find_duplicates(session, probe, seen)


def find_duplicates(
    session: Session, probe: Probe, seen: Visibility | None = None
) -> DuplicateCandidates:
    """Return the open events of the probe's matters near it in space and time, nearest first.

    Only events the viewer may list are returned (`seen`, from `users.policy.visibility`).
    A bounding box narrows the query; the exact test is the haversine distance.
    """
    found = DuplicateCandidates(
        matter_codes=sorted(probe.matter_codes),
        radius_m=DUPLICATE_RADIUS_M,
        window_hours=DUPLICATE_WINDOW.total_seconds() / 3600,
        candidates=[],
    )
    if not probe.matter_codes:
        return found
    dlat = DUPLICATE_RADIUS_M / METRES_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(probe.lat)), 0.01)
    codes = sorted(probe.matter_codes)
    query = select(Event).where(
        col(Event.status).in_(MERGEABLE),
        or_(col(Event.matter_code).in_(codes), col(Event.reported_matter_code).in_(codes)),
        col(Event.lat).between(probe.lat - dlat, probe.lat + dlat),
        col(Event.lon).between(probe.lon - dlon, probe.lon + dlon),
        col(Event.reported_at).between(probe.at - DUPLICATE_WINDOW, probe.at + DUPLICATE_WINDOW),
    )
    if probe.exclude_id is not None:
        query = query.where(Event.id != probe.exclude_id)
    for condition in _visible(seen):
        query = query.where(condition)
    ranked = []
    for event in session.exec(query).all():
        distance = haversine_m(probe.lon, probe.lat, event.lon, event.lat)
        if distance > DUPLICATE_RADIUS_M:
            continue
        apart = abs((probe.at - as_utc(event.reported_at)).total_seconds())
        # Distance and time weigh alike, each as a share of its limit.
        score = distance / DUPLICATE_RADIUS_M + apart / DUPLICATE_WINDOW.total_seconds()
        ranked.append((score, event, distance, apart))
    ranked.sort(key=lambda r: (r[0], r[1].id or 0))
    found.candidates = [
        DuplicateCandidate(
            id=event.id or 0,
            status=event.status,
            description=event.description,
            address=event.address,
            matter_code=event.matter_code or event.reported_matter_code,
            township_code=event.township_code,
            reported_at=as_utc(event.reported_at),
            lon=event.lon,
            lat=event.lat,
            distance_m=round(distance, 1),
            age_hours=round(apart / 3600, 2),
        )
        for _, event, distance, apart in ranked[:MAX_CANDIDATES]
    ]
    return found


def _visible(seen: Visibility | None) -> list[ColumnElement[bool]]:
    if seen is None:
        return []
    conditions: list[ColumnElement[bool]] = []
    if seen.townships is not None:
        inside: ColumnElement[bool] = col(Event.township_code).in_(sorted(seen.townships))
        if seen.reporter_id is not None:
            inside = or_(inside, col(Event.reporter_id) == seen.reporter_id)
        conditions.append(inside)
    if seen.departments is not None:
        holding = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(seen.departments))
        )
        conditions.append(col(Event.id).in_(holding))
    return conditions
