"""Users: validated creation, argon2 passwords, sign-in, scopes for the permission rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import shapely
from argon2 import PasswordHasher
from sqlmodel import Session, func, select

from dispatch.core.db import make_engine
from dispatch.core.errors import Conflict, InvalidInput
from dispatch.events.models import Assignment, AssignmentRole, Event
from dispatch.events.scopes import assignment_scope, event_scope
from dispatch.reference.models import Department, DepartmentKind, JurisdictionRow
from dispatch.users.models import User, UserRole
from dispatch.users.policy import Action, authorize, can
from dispatch.users.scopes import actor_for
from dispatch.users.service import (
    DEMO_PASSWORD,
    DEMO_USERS,
    authenticate,
    create_user,
    ensure_demo_users,
    get_user,
    hash_password,
    list_users,
    resolve_scope,
    scope_label,
)

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class County:
    """A small county written into the test's transaction."""

    township_a: str
    township_b: str
    village: str
    enforcement: int
    enforcement_unit: int
    market: int
    platform_a: int


@pytest.fixture
def county(session: Session) -> County:
    """Add two townships, a village and a few departments, rolled back after the test."""
    box = shapely.box(120.0, 33.0, 120.1, 33.1).wkb
    rows = [
        JurisdictionRow(code="990001", name="测试县", level="county", geometry_wkb=box),
        JurisdictionRow(
            code="990001001",
            name="甲镇",
            level="township",
            parent_code="990001",
            geometry_wkb=box,
        ),
        JurisdictionRow(
            code="990001002",
            name="乙镇",
            level="township",
            parent_code="990001",
            geometry_wkb=box,
        ),
        JurisdictionRow(
            code="990001001001",
            name="甲村",
            level="village",
            parent_code="990001001",
            geometry_wkb=box,
        ),
    ]
    session.add_all(rows)
    session.flush()
    enforcement = Department(
        name="测试县综合执法局", short_name="测试执法局", kind=DepartmentKind.COUNTY_DEPARTMENT
    )
    market = Department(
        name="测试县市场监管局", short_name="测试监管局", kind=DepartmentKind.COUNTY_DEPARTMENT
    )
    session.add_all([enforcement, market])
    session.flush()
    unit = Department(
        name="测试执法一中队", kind=DepartmentKind.STATIONED_UNIT, parent_id=enforcement.id
    )
    platform = Department(
        name="甲镇综合执法平台", kind=DepartmentKind.TOWNSHIP_PLATFORM, township_code="990001001"
    )
    session.add_all([unit, platform])
    session.flush()
    assert enforcement.id and market.id and unit.id and platform.id
    return County(
        township_a="990001001",
        township_b="990001002",
        village="990001001001",
        enforcement=enforcement.id,
        enforcement_unit=unit.id,
        market=market.id,
        platform_a=platform.id,
    )


# ---- Passwords and sign-in ------------------------------------------------------------------


def test_a_created_user_signs_in_with_the_password_and_the_hash_is_argon2id(
    session: Session, county: County
) -> None:
    user = create_user(
        session,
        username="Li.Wei",
        password=PASSWORD,
        role=UserRole.GRID_WORKER,
        township_code=county.township_a,
        display_name=" 李伟 ",
    )
    assert user.id is not None
    assert user.username == "li.wei"
    assert user.display_name == "李伟"
    assert user.active
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    signed_in = authenticate(session, "LI.WEI", PASSWORD)
    assert signed_in is not None and signed_in.id == user.id
    assert get_user(session, user.id) is user


def test_a_wrong_password_and_an_unknown_user_both_get_none(
    session: Session, county: County
) -> None:
    create_user(session, username="centre1", password=PASSWORD, role=UserRole.COMMAND_CENTRE)
    assert authenticate(session, "centre1", PASSWORD + "x") is None
    assert authenticate(session, "centre1", "") is None
    assert authenticate(session, "nobody", PASSWORD) is None


def test_an_inactive_user_cannot_sign_in(session: Session) -> None:
    user = create_user(session, username="gone", password=PASSWORD, role=UserRole.ADMIN)
    user.active = False
    session.flush()
    assert authenticate(session, "gone", PASSWORD) is None


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(session: Session) -> None:
    user = create_user(session, username="old.hash", password=PASSWORD, role=UserRole.ADMIN)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    session.flush()
    assert authenticate(session, "old.hash", PASSWORD) is not None
    session.expire_all()
    stored = session.exec(select(User).where(User.username == "old.hash")).one()
    assert stored.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(stored.password_hash)
    assert authenticate(session, "old.hash", PASSWORD) is not None


def test_a_malformed_stored_hash_never_matches(session: Session) -> None:
    user = create_user(session, username="broken", password=PASSWORD, role=UserRole.ADMIN)
    user.password_hash = "not-a-hash"
    session.flush()
    assert authenticate(session, "broken", PASSWORD) is None


# ---- Validation -------------------------------------------------------------------------


def _bad_user_cases() -> list[object]:
    cases: list[tuple[str, dict[str, object], str]] = [
        ("username-too-short", {"username": "ab"}, "username"),
        ("username-too-long", {"username": "a" * 101}, "username"),
        ("username-space", {"username": "li wei"}, "username"),
        ("username-han", {"username": "李伟"}, "username"),
        ("username-slash", {"username": "li/wei"}, "username"),
        ("password-7-chars", {"password": "1234567"}, "password"),
        ("password-huge", {"password": "x" * 1025}, "password"),
        ("unknown-role", {"role": "mayor"}, "role"),
        ("display-name-too-long", {"display_name": "名" * 201}, "display_name"),
        ("grid-no-township", {"role": UserRole.GRID_WORKER}, "township_code"),
        (
            "grid-with-department",
            {"role": UserRole.GRID_WORKER, "township_code": "A", "department_id": "E"},
            "department_id",
        ),
        (
            "grid-on-a-village",
            {"role": UserRole.GRID_WORKER, "township_code": "V"},
            "township_code",
        ),
        (
            "operator-unknown-township",
            {"role": UserRole.TOWNSHIP_OPERATOR, "township_code": "000000000"},
            "township_code",
        ),
        ("staff-no-department", {"role": UserRole.DEPARTMENT_STAFF}, "department_id"),
        (
            "staff-with-township",
            {"role": UserRole.DEPARTMENT_STAFF, "department_id": "E", "township_code": "A"},
            "township_code",
        ),
        (
            "staff-unknown-department",
            {"role": UserRole.DEPARTMENT_STAFF, "department_id": 987654},
            "department_id",
        ),
        ("admin-with-township", {"role": UserRole.ADMIN, "township_code": "A"}, "township_code"),
        (
            "centre-with-department",
            {"role": UserRole.COMMAND_CENTRE, "department_id": "E"},
            "department_id",
        ),
    ]
    return [pytest.param(changes, field, id=name) for name, changes, field in cases]


@pytest.mark.parametrize(("changes", "field"), _bad_user_cases())
def test_each_invalid_user_is_refused_naming_the_field(
    session: Session, county: County, changes: dict[str, object], field: str
) -> None:
    placeholders = {"A": county.township_a, "V": county.village, "E": county.enforcement}
    arguments: dict[str, object] = {
        "username": "valid.name",
        "password": PASSWORD,
        "role": UserRole.ADMIN,
    }
    arguments.update(
        {k: placeholders.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    )
    with pytest.raises(InvalidInput) as refused:
        create_user(session, **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert session.exec(select(func.count()).select_from(User)).one() == 0


def test_every_role_is_created_with_the_scope_it_needs(session: Session, county: County) -> None:
    created = [
        create_user(
            session,
            username="g1x",
            password=PASSWORD,
            role=UserRole.GRID_WORKER,
            township_code=county.township_a,
        ),
        create_user(
            session,
            username="t1x",
            password=PASSWORD,
            role=UserRole.TOWNSHIP_OPERATOR,
            township_code=county.township_b,
        ),
        create_user(
            session,
            username="d1x",
            password=PASSWORD,
            role=UserRole.DEPARTMENT_STAFF,
            department_id=county.market,
        ),
        create_user(session, username="c1x", password=PASSWORD, role=UserRole.COMMAND_CENTRE),
        create_user(session, username="a1x", password="12345678", role=UserRole.ADMIN),
    ]
    assert [u.role for u in list_users(session)] == [
        "admin",
        "command_centre",
        "department_staff",
        "grid_worker",
        "township_operator",
    ]
    labels = [scope_label(session, u) for u in created]
    assert labels == ["甲镇 (990001001)", "乙镇 (990001002)", "测试县市场监管局", None, None]


def test_a_duplicate_username_is_a_conflict_whatever_its_case(session: Session) -> None:
    create_user(session, username="alice", password=PASSWORD, role=UserRole.ADMIN)
    with pytest.raises(Conflict) as duplicate:
        create_user(session, username="Alice", password=PASSWORD, role=UserRole.COMMAND_CENTRE)
    assert duplicate.value.field == "username"
    assert "alice" in duplicate.value.message


# ---- Scopes typed at the command line ----------------------------------------------------------


def test_a_scope_is_found_by_code_name_id_or_short_name(session: Session, county: County) -> None:
    assert resolve_scope(session, UserRole.GRID_WORKER, "990001002") == ("990001002", None)
    assert resolve_scope(session, UserRole.TOWNSHIP_OPERATOR, "甲镇") == ("990001001", None)
    staff = UserRole.DEPARTMENT_STAFF
    assert resolve_scope(session, staff, "测试县综合执法局") == (None, county.enforcement)
    assert resolve_scope(session, staff, "测试监管局") == (None, county.market)
    assert resolve_scope(session, staff, str(county.enforcement_unit)) == (
        None,
        county.enforcement_unit,
    )
    assert resolve_scope(session, UserRole.ADMIN, None) == (None, None)


@pytest.mark.parametrize(
    ("role", "scope", "message"),
    [
        (UserRole.GRID_WORKER, None, "乡镇"),
        (UserRole.GRID_WORKER, "甲村", "不是已导入的乡镇"),
        (UserRole.DEPARTMENT_STAFF, "县不存在局", "不在部门名录中"),
        (UserRole.DEPARTMENT_STAFF, "", "部门"),
        (UserRole.COMMAND_CENTRE, "甲镇", "不指定范围"),
    ],
)
def test_a_scope_that_does_not_fit_is_refused(
    session: Session, county: County, role: UserRole, scope: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        resolve_scope(session, role, scope)
    assert refused.value.field == "scope"


# ---- Actors and scopes for the rules -------------------------------------------------------


def test_county_staff_act_for_their_units_and_unit_staff_for_themselves(
    session: Session, county: County
) -> None:
    county_staff = create_user(
        session,
        username="zfx",
        password=PASSWORD,
        role=UserRole.DEPARTMENT_STAFF,
        department_id=county.enforcement,
    )
    unit_staff = create_user(
        session,
        username="zdx",
        password=PASSWORD,
        role=UserRole.DEPARTMENT_STAFF,
        department_id=county.enforcement_unit,
    )
    county_actor = actor_for(session, county_staff)
    assert county_actor.department_ids == {county.enforcement, county.enforcement_unit}
    assert county_actor.department_name == "测试县综合执法局"
    assert actor_for(session, unit_staff).department_ids == {county.enforcement_unit}

    operator = create_user(
        session,
        username="opx",
        password=PASSWORD,
        role=UserRole.TOWNSHIP_OPERATOR,
        township_code=county.township_a,
    )
    township_actor = actor_for(session, operator)
    assert township_actor.role is UserRole.TOWNSHIP_OPERATOR
    assert township_actor.township_name == "甲镇"
    assert township_actor.department_ids == frozenset()


def test_scopes_built_from_rows_let_the_rules_decide(session: Session, county: County) -> None:
    now = datetime.now(UTC)
    event = Event(
        client_id="7b3c6c52-0000-4000-8000-000000000001",
        source="app",
        reported_at=now,
        raw_lon=120.05,
        raw_lat=33.05,
        crs="wgs84",
        lon=120.05,
        lat=33.05,
        description="路边占道经营",
        township_code=county.township_a,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    lead = Assignment(
        event_id=event.id, department_id=county.enforcement_unit, role=AssignmentRole.LEAD
    )
    territorial = Assignment(
        event_id=event.id, department_id=county.platform_a, role=AssignmentRole.TERRITORIAL
    )
    session.add_all([lead, territorial])
    session.flush()

    scope = event_scope(session, event)
    assert scope.township_name == "甲镇"
    assert scope.department_ids_with_assignments == {county.enforcement_unit, county.platform_a}
    on_platform = assignment_scope(session, territorial, event)
    assert on_platform.platform_township_code == county.township_a
    on_unit = assignment_scope(session, lead, event)
    assert on_unit.platform_township_code is None
    assert on_unit.department_name == "测试执法一中队"

    operator = actor_for(
        session,
        create_user(
            session,
            username="op.a",
            password=PASSWORD,
            role=UserRole.TOWNSHIP_OPERATOR,
            township_code=county.township_a,
        ),
    )
    county_staff = actor_for(
        session,
        create_user(
            session,
            username="zf.a",
            password=PASSWORD,
            role=UserRole.DEPARTMENT_STAFF,
            department_id=county.enforcement,
        ),
    )
    market_staff = actor_for(
        session,
        create_user(
            session,
            username="sc.a",
            password=PASSWORD,
            role=UserRole.DEPARTMENT_STAFF,
            department_id=county.market,
        ),
    )
    assert can(operator, Action.SIGN, assignment=on_platform)
    assert not can(operator, Action.SIGN, assignment=on_unit)
    assert can(county_staff, Action.SIGN, assignment=on_unit)
    assert can(county_staff, Action.VIEW_EVENT, event=scope)
    assert not can(market_staff, Action.VIEW_EVENT, event=scope)
    with pytest.raises(Exception, match="部门「测试县市场监管局」不能签收「测试执法一中队」的任务"):
        authorize(market_staff, Action.SIGN, assignment=on_unit)


# ---- Demo users -------------------------------------------------------------------------


@pytest.fixture
def demo_session(demo_database_url: str) -> Iterator[Session]:
    """Yield a session on the demo county whose writes are all rolled back."""
    engine = make_engine(demo_database_url)
    with engine.connect() as connection:
        outer = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()
    engine.dispose()


def test_demo_users_are_created_once_per_role_with_the_documented_password(
    demo_session: Session,
) -> None:
    session = demo_session
    before = {u.username for u in list_users(session)}
    printed = ensure_demo_users(session)
    expected_names = [name for name, *_ in DEMO_USERS]
    assert [name for name, _, _ in printed] == expected_names
    assert {role for _, role, _ in printed} == {r.value for r in UserRole}
    assert all(password == DEMO_PASSWORD for _, _, password in printed)
    for name, role, _ in printed:
        user = authenticate(session, name, DEMO_PASSWORD)
        assert user is not None and user.role == role

    grid = authenticate(session, "grid", DEMO_PASSWORD)
    assert grid is not None and grid.township_code == "320999004"
    zhifa = authenticate(session, "zhifa", DEMO_PASSWORD)
    assert zhifa is not None and scope_label(session, zhifa) == "县综合行政执法局"
    zhifa_actor = actor_for(session, zhifa)
    assert len(zhifa_actor.department_ids) == 5  # the bureau and its four 执法中队

    count = len(list_users(session))
    assert count == len(before | set(expected_names))
    assert ensure_demo_users(session) == printed
    assert len(list_users(session)) == count


def test_a_demo_user_whose_password_changed_is_not_printed(demo_session: Session) -> None:
    ensure_demo_users(demo_session)
    admin = authenticate(demo_session, "admin", DEMO_PASSWORD)
    assert admin is not None
    admin.password_hash = hash_password("a private password")
    demo_session.flush()
    names = [name for name, _, _ in ensure_demo_users(demo_session)]
    assert "admin" not in names
    assert "centre" in names
