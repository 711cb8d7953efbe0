"""The signed-in user as the permission rules see them."""

from __future__ import annotations

from sqlmodel import Session

from dispatch.reference.departments import with_units
from dispatch.reference.jurisdictions import jurisdiction_name
from dispatch.reference.models import Department, DepartmentKind
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
