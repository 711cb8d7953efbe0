"""The router: the built index and directory, plus the list in force, behind one call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from dispatch.core.clock import local_date, utcnow
from dispatch.core.errors import InvalidInput
from dispatch.reference.departments import DepartmentDirectory, load_directory
from dispatch.reference.jurisdictions import build_index
from dispatch.reference.lists.classify import SUGGESTION_FLOOR, Classifier
from dispatch.reference.lists.rules import MatterRules
from dispatch.reference.lists.versions import list_in_force, load_rules
from dispatch.reference.schemas import (
    MatterListRef,
    MatterPublic,
    MattersInForce,
    MatterSuggestion,
)
from dispatch.routing.decide import RoutingDecision, decide
from dispatch.routing.schemas import (
    ChainItem,
    NearBoundary,
    PlacementPublic,
    RawPoint,
    RoutePreviewResult,
    RoutingDecisionPublic,
    Wgs84Point,
)
from geo.coords import Crs, parse_crs, to_wgs84, validate_lonlat
from geo.index import JurisdictionIndex, Location
from geo.levels import Level

IN_FORCE_TTL_S = 60.0
NO_RULES = MatterRules(list_id=None, county_code="", version=0, effective_from=None, matters=())


@dataclass(frozen=True, slots=True)
class Placement:
    """A reported point as given, converted to WGS84, and located."""

    lon: float
    lat: float
    crs: Crs
    wgs84_lon: float
    wgs84_lat: float
    location: Location

    def to_public(self) -> PlacementPublic:
        """Return the response shape of GET /api/locate."""
        near = self.location.near_boundary
        return PlacementPublic(
            raw=RawPoint(lon=self.lon, lat=self.lat, crs=self.crs.value),
            wgs84=Wgs84Point(lon=self.wgs84_lon, lat=self.wgs84_lat),
            chain=[ChainItem(code=j.code, name=j.name, level=j.level) for j in self.location.chain],
            near_boundary=None
            if near is None
            else NearBoundary(
                code=near.code,
                name=near.name,
                level=near.level,
                distance_m=round(near.distance_m, 1),
                differs_at=near.differs_at,
            ),
            reason=self.location.reason,
        )


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Where the point is and the routing decision taken there."""

    placement: Placement
    decision: RoutingDecision

    def to_public(self) -> RoutePreviewResult:
        """Return the response shape of POST /api/route/preview."""
        return RoutePreviewResult(
            location=self.placement.to_public(),
            decision=RoutingDecisionPublic.model_validate(self.decision.to_dict()),
        )


class Router:
    """Locate and decide; the index and directory are built once, lists cached by version."""

    def __init__(
        self, index: JurisdictionIndex, directory: DepartmentDirectory, threshold: float
    ) -> None:
        self.index = index
        self.directory = directory
        self.threshold = threshold
        self._lists: dict[int, tuple[MatterRules, Classifier]] = {}
        self._in_force: dict[tuple[str, date], tuple[int | None, float]] = {}
        self._no_rules = (NO_RULES, Classifier.build(NO_RULES))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, session: Session, *, near_distance_m: float, threshold: float) -> Router:
        """Build the index and directory from the database."""
        return cls(
            build_index(session, near_distance_m=near_distance_m),
            load_directory(session),
            threshold,
        )

    def warm(self, session: Session) -> None:
        """Build the classifier of every county's list in force now, before it is needed."""
        for county in self.index.at_level(Level.COUNTY):
            self.rules_for(session, county.code, utcnow())

    def locate(self, lon: float, lat: float, crs: str | Crs = Crs.WGS84) -> Placement:
        """Validate, convert to WGS84 and locate; raise CoordinateError naming the field."""
        parsed = crs if isinstance(crs, Crs) else parse_crs(crs)
        validate_lonlat(lon, lat)
        x, y = to_wgs84(lon, lat, parsed)
        return Placement(lon, lat, parsed, x, y, self.index.locate(x, y))

    def rules_for(
        self, session: Session, county_code: str | None, at: datetime
    ) -> tuple[MatterRules | None, Classifier]:
        """Return the list in force for the county at a moment, with its classifier."""
        list_id = self._list_id_in_force(session, county_code, at) if county_code else None
        if list_id is None:
            return None, self._no_rules[1]
        with self._lock:
            cached = self._lists.get(list_id)
            if cached is None:
                rules = load_rules(session, list_id)
                cached = (rules, Classifier.build(rules))
                self._lists[list_id] = cached
        return cached

    def _list_id_in_force(self, session: Session, county_code: str, at: datetime) -> int | None:
        """Return the id of the list in force, remembered per county and day for a minute.

        Lists change by publishing a version effective from a date, so the answer is the
        same all day; the short memory lets a newly published list take over within a minute
        in every process without a query per event.
        """
        key = (county_code, local_date(at))
        now = time.monotonic()
        remembered = self._in_force.get(key)
        if remembered is not None and now - remembered[1] < IN_FORCE_TTL_S:
            return remembered[0]
        found = list_in_force(session, county_code, at)
        list_id = found.id if found is not None else None
        self._in_force[key] = (list_id, now)
        return list_id

    def route(
        self,
        session: Session,
        *,
        lon: float,
        lat: float,
        crs: str | Crs = Crs.WGS84,
        matter_code: str | None = None,
        description: str | None = None,
        urgent: bool = False,
        at: datetime | None = None,
    ) -> RouteResult:
        """Locate the point and decide who acts, by the list in force at `at` (default now)."""
        placement = self.locate(lon, lat, crs)
        decision = self.decide_at(
            session,
            placement.location,
            matter_code=matter_code,
            description=description,
            urgent=urgent,
            at=at,
        )
        return RouteResult(placement, decision)

    def decide_at(
        self,
        session: Session,
        location: Location,
        *,
        matter_code: str | None = None,
        description: str | None = None,
        urgent: bool = False,
        at: datetime | None = None,
    ) -> RoutingDecision:
        """Decide who acts at an already located point, by its county's list in force at `at`."""
        county = location.at(Level.COUNTY)
        rules, classifier = self.rules_for(session, county.code if county else None, at or utcnow())
        return decide(
            location,
            matter_code=matter_code,
            description=description,
            rules=rules,
            directory=self.directory,
            classifier=classifier,
            threshold=self.threshold,
            urgent=urgent,
        )

    def location_of(self, code: str) -> Location:
        """Return the location standing for a jurisdiction chosen by hand (triage)."""
        chain = self.index.chain(code)
        if not chain:
            raise InvalidInput(f"辖区编码「{code}」不存在", field="township_code")
        return Location(chain)

    def suggest(
        self, session: Session, county_code: str | None, text: str, k: int = 3
    ) -> list[MatterSuggestion]:
        """Return up to k matters a description likely is, only those above the floor."""
        rules, classifier = self.rules_for(session, county_code, utcnow())
        platforms = {m.code: m.platform_code for m in rules.matters} if rules else {}
        return [
            MatterSuggestion(
                code=s.code,
                name=s.name,
                platform=self.directory.platform_name(platforms.get(s.code)),
                score=round(s.score, 3),
            )
            for s in classifier.suggest(text, k)
            if s.score >= SUGGESTION_FLOOR
        ]

    def list_in_force_summary(
        self, session: Session, county_code: str | None, at: datetime | None = None
    ) -> MattersInForce:
        """Return a county's list in force, with its matters."""
        rules, _ = self.rules_for(session, county_code, at or utcnow())
        if rules is None:
            return MattersInForce(list=None, matters=[])
        return MattersInForce(
            list=MatterListRef(
                id=rules.list_id,
                county_code=rules.county_code,
                version=rules.version,
                effective_from=rules.effective_from,
            ),
            matters=[
                MatterPublic(
                    code=m.code,
                    name=m.name,
                    row_number=m.row_number,
                    platform_code=m.platform_code,
                    platform=self.directory.platform_name(m.platform_code),
                    keywords=list(m.keywords),
                    mode=m.mode,
                    lead_department=_name(self.directory, m.lead_department_id),
                    cooperating_departments=[_name(self.directory, d) for d in m.co_department_ids],
                    sign_hours=m.sign_hours,
                    handle_days=m.handle_days,
                )
                for m in rules.matters
            ],
        )


def _name(directory: DepartmentDirectory, department_id: int | None) -> str | None:
    found = directory.get(department_id)
    return found.name if found else None
