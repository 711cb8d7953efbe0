"""The signed-in user as the permission rules see them."""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from dispatch.reference.departments import with_units
from dispatch.reference.jurisdictions import choose_county, county_of, jurisdiction_name
from dispatch.reference.models import (
    Department,
    DepartmentCoverage,
    DepartmentKind,
    Matter,
    MatterCooperator,
    MatterList,
)
from dispatch.users.models import User, UserRole
from dispatch.users.policy import Actor


def actor_for(session: Session, user: User) -> Actor:
    """Describe the user for the rules: a county department's staff also act for its units."""
    assert user.id is not None
    department_ids: set[int] = set()
    department_name = None
    if user.department_id is not None:
        department = session.get(Department, user.department_id)
        if department is not None and department.id is not None:
            department_name = department.name
            department_ids.add(department.id)
            if department.kind == DepartmentKind.COUNTY_DEPARTMENT:
                department_ids.update(with_units(session, department.id))
    return Actor(
        id=user.id,
        role=UserRole(user.role),
        township_code=user.township_code,
        department_id=user.department_id,
        department_ids=frozenset(department_ids),
        department_name=department_name,
        township_name=jurisdiction_name(session, user.township_code),
    )


def user_county_code(session: Session, user: User) -> str | None:
    """Return the county a user works in, from their township or department; None if unsure.

    A township platform lies in its township's county and a stationed unit in the county
    of the townships it covers; a county department, which has no territory of its own,
    in the county of its units' townships and of the lists that name it. Unscoped users
    (command centre, admin) and departments seen in several counties have none.
    """
    if user.township_code is not None:
        return county_of(session, user.township_code)
    if user.department_id is None:
        return None
    department = session.get(Department, user.department_id)
    if department is None or department.id is None:
        return None
    if department.township_code is not None:
        return county_of(session, department.township_code)
    units = {department.id}
    if department.kind == DepartmentKind.COUNTY_DEPARTMENT:
        units.update(
            unit
            for unit in session.exec(
                select(Department.id).where(Department.parent_id == department.id)
            ).all()
            if unit is not None
        )
    townships = session.exec(
        select(DepartmentCoverage.township_code).where(
            col(DepartmentCoverage.department_id).in_(units)
        )
    ).all()
    counties = {county_of(session, code) for code in townships}
    if department.kind == DepartmentKind.COUNTY_DEPARTMENT:
        counties.update(_counties_of_lists_naming(session, department.id))
    counties.discard(None)
    return counties.pop() if len(counties) == 1 else None


def _counties_of_lists_naming(session: Session, department_id: int) -> set[str | None]:
    """Return the counties whose lists name the department as lead or cooperating."""
    cooperating = select(MatterCooperator.matter_id).where(
        MatterCooperator.department_id == department_id
    )
    rows = session.exec(
        select(MatterList.county_code)
        .join(Matter, col(Matter.list_id) == col(MatterList.id))
        .where(
            or_(
                col(Matter.lead_department_id) == department_id,
                col(Matter.id).in_(cooperating),
            )
        )
        .distinct()
    ).all()
    return set(rows)


def county_for(
    session: Session, requested: str | None, user: User | None, *, ambiguous_ok: bool = False
) -> str | None:
    """Return the county a request means: the one asked for, else the user's, else the only one.

    With several counties and nothing to choose by, raise InvalidInput naming `county`,
    or, when ambiguous_ok, return None (the caller then speaks for all of them).
    """
    if requested is None and user is not None:
        own = user_county_code(session, user)
        if own is not None:
            return own
    if requested is None and ambiguous_ok:
        return None
    return choose_county(session, requested)
