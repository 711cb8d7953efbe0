"""Several counties side by side: each routes by its own list; choosing the county of a request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shapely.geometry import box
from sqlmodel import Session

from dispatch.core.errors import InvalidInput
from dispatch.core.settings import get_settings
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment
from dispatch.jobs.context import reset_worker_context, worker_context
from dispatch.loop.dispatching import route_events
from dispatch.reference.calendar import load_calendar
from dispatch.reference.jurisdictions import choose_county, county_of, county_summary
from dispatch.routing.router import Router
from dispatch.users.models import User, UserRole
from dispatch.users.scopes import county_for, user_county_code
from geo.index import Location
from geo.jurisdiction import Jurisdiction
from geo.levels import Level
from tests.helpers import new_report
from tests.two_counties import (
    COUNTY_A,
    COUNTY_B,
    POINT_A,
    POINT_B,
    TOWNSHIP_A,
    TOWNSHIP_B,
    department_id,
    load_two_counties,
)


@pytest.fixture
def two(session: Session) -> Session:
    """Two counties, rolled back after the test."""
    load_two_counties(session)
    return session


@pytest.fixture
def router(two: Session) -> Router:
    """A router over both counties."""
    return Router.load(two, near_distance_m=50.0, threshold=0.5)


def lead_name(router: Router, session: Session, point: tuple[float, float], code: str) -> str:
    """Route a matter at a point and return the lead's name."""
    decision = router.route(session, lon=point[0], lat=point[1], matter_code=code).decision
    assert decision.routed, decision.triage_reasons
    assert decision.lead is not None
    return decision.lead.department_name


def test_each_county_routes_by_its_own_list(two: Session, router: Router) -> None:
    # The same matter code leads to different departments on either side of the border.
    assert lead_name(router, two, POINT_A, "C-001") == "甲镇执法中队"
    assert lead_name(router, two, POINT_B, "C-001") == "乙县住房和城乡建设局"
    a = router.route(two, lon=POINT_A[0], lat=POINT_A[1], matter_code="C-001").decision
    b = router.route(two, lon=POINT_B[0], lat=POINT_B[1], matter_code="C-001").decision
    assert a.matter is not None and b.matter is not None
    assert a.matter.list_id != b.matter.list_id
    assert a.county is not None and a.county.code == COUNTY_A
    assert b.county is not None and b.county.code == COUNTY_B


def test_a_matter_of_the_other_county_is_not_routed(two: Session, router: Router) -> None:
    decision = router.route(two, lon=POINT_B[0], lat=POINT_B[1], matter_code="C-002").decision
    assert not decision.routed
    assert any("C-002" in line for line in decision.triage_reasons)


def test_description_is_classified_by_the_county_list(two: Session, router: Router) -> None:
    text = "河边有企业偷排污水，异味很重"
    a = router.route(two, lon=POINT_A[0], lat=POINT_A[1], description=text).decision
    b = router.route(two, lon=POINT_B[0], lat=POINT_B[1], description=text).decision
    assert b.routed and b.matter is not None and b.matter.code == "C-003"
    assert a.matter is None or a.matter.code != "C-003"


def test_a_location_without_a_county_cannot_be_routed_by_a_list(
    two: Session, router: Router
) -> None:
    township = Jurisdiction(TOWNSHIP_A, "甲镇", Level.TOWNSHIP, None, box(100, 20, 100.2, 20.2))
    decision = router.decide_at(two, Location(chain=(township,)), matter_code="C-001")
    assert decision.outcome == "needs_triage"
    assert "定位未落入任何县(区)，无法确定按哪个县的责任清单派单" in decision.triage_reasons
    assert decision.matter is None and decision.lead is None


def test_an_event_reported_in_the_second_county_is_dispatched_by_its_list(
    two: Session, router: Router
) -> None:
    report = new_report(matter_code="C-001")
    report.lon, report.lat = POINT_B
    event = report_event(two, router, report).event
    assert event.id is not None and event.county_code == COUNTY_B
    (routed,) = route_events(two, router, load_calendar(two), [event.id])
    assert routed.outcome == "dispatched"
    parts = [two.get(Assignment, i) for i in routed.assignment_ids]
    leads = [a.department_id for a in parts if a is not None and a.role == "lead"]
    assert leads == [department_id(two, "乙县住房和城乡建设局")]


def test_the_county_must_be_named_when_several_are_stored(two: Session) -> None:
    assert choose_county(two, COUNTY_B) == COUNTY_B
    with pytest.raises(InvalidInput) as ambiguous:
        choose_county(two, None)
    assert ambiguous.value.field == "county"
    assert COUNTY_A in ambiguous.value.message and COUNTY_B in ambiguous.value.message
    with pytest.raises(InvalidInput) as unknown:
        choose_county(two, "999999")
    assert unknown.value.field == "county" and "999999" in unknown.value.message
    with pytest.raises(InvalidInput) as township:
        choose_county(two, TOWNSHIP_A)  # a township is not a county
    assert TOWNSHIP_A in township.value.message


def test_the_only_county_needs_no_name(session: Session) -> None:
    assert choose_county(session, None) is None  # nothing imported yet
    load_two_counties(session)
    assert county_of(session, TOWNSHIP_B) == COUNTY_B
    assert county_of(session, COUNTY_A) == COUNTY_A
    assert county_of(session, "nowhere") is None


def user(
    session: Session, role: UserRole, *, township: str | None = None, dept: str | None = None
) -> User:
    """Return an unsaved user with a scope."""
    return User(
        id=1,
        username="u",
        password_hash="x",
        role=role,
        township_code=township,
        department_id=department_id(session, dept) if dept else None,
    )


@pytest.mark.parametrize(
    ("role", "township", "department", "county"),
    [
        (UserRole.GRID_WORKER, TOWNSHIP_B, None, COUNTY_B),
        (UserRole.TOWNSHIP_OPERATOR, TOWNSHIP_A, None, COUNTY_A),
        (UserRole.DEPARTMENT_STAFF, None, "甲镇执法中队", COUNTY_A),  # the township it covers
        (UserRole.DEPARTMENT_STAFF, None, "甲县综合行政执法局", COUNTY_A),  # its unit's township
        (UserRole.DEPARTMENT_STAFF, None, "乙县住房和城乡建设局", COUNTY_B),  # the list naming it
        (UserRole.DEPARTMENT_STAFF, None, "乙镇综合执法平台", COUNTY_B),  # its township
        (UserRole.DEPARTMENT_STAFF, None, "市消防救援支队", None),  # named in both lists
        (UserRole.COMMAND_CENTRE, None, None, None),
    ],
)
def test_a_user_county_follows_from_their_scope(
    two: Session, role: UserRole, township: str | None, department: str | None, county: str | None
) -> None:
    assert user_county_code(two, user(two, role, township=township, dept=department)) == county


def test_a_request_uses_the_county_asked_for_then_the_user_county(two: Session) -> None:
    yi = user(two, UserRole.TOWNSHIP_OPERATOR, township=TOWNSHIP_B)
    centre = user(two, UserRole.COMMAND_CENTRE)
    assert county_for(two, None, yi) == COUNTY_B
    assert county_for(two, COUNTY_A, yi) == COUNTY_A
    with pytest.raises(InvalidInput):
        county_for(two, None, centre)
    assert county_for(two, None, centre, ambiguous_ok=True) is None


def test_a_summary_of_several_counties_spans_them_all(two: Session) -> None:
    both = county_summary(two)
    assert both is not None and both.code is None and both.name == "甲县、乙县"
    assert both.center == pytest.approx((20.1, 100.2))
    yi = county_summary(two, COUNTY_B)
    assert yi is not None and yi.code == COUNTY_B and 100.2 < yi.center[1] < 100.4


@pytest.fixture
def two_county_env(monkeypatch: pytest.MonkeyPatch, two_county_database_url: str) -> Iterator[None]:
    """Point the process settings at the committed two-county database."""
    monkeypatch.setenv("DATABASE_URL", two_county_database_url)
    get_settings.cache_clear()
    reset_worker_context()
    yield
    reset_worker_context()
    get_settings.cache_clear()


def test_a_worker_warms_the_list_of_every_county(two_county_env: None) -> None:
    router = worker_context().built().router
    warmed = {rules.county_code for rules, _ in router._lists.values()}
    assert warmed == {COUNTY_A, COUNTY_B}
