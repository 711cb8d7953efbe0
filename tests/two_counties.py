"""Two counties side by side (tests/data/two_counties): a township each, departments, own lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session, select

from dispatch.reference.departments import ensure_township_platforms, import_departments
from dispatch.reference.jurisdictions import import_layer
from dispatch.reference.lists.importer import import_matter_list
from dispatch.reference.models import Department
from dispatch.users.models import UserRole
from dispatch.users.service import create_user
from geo.geojson import FieldMapping
from geo.levels import Level

DATA = Path(__file__).resolve().parent / "data" / "two_counties"
COUNTY_A, COUNTY_B = "910100", "920100"
TOWNSHIP_A, TOWNSHIP_B = "910100001", "920100001"
# Well inside each county: 甲县 is the square 100.0-100.2 E, 乙县 100.2-100.4 E (20.0-20.2 N).
POINT_A = (100.1, 20.1)
POINT_B = (100.3, 20.1)
LISTS = {COUNTY_A: "matter_list_a.csv", COUNTY_B: "matter_list_b.csv"}
PASSWORD = "two-counties-2026"
# username, role, township, department
USERS: tuple[tuple[str, UserRole, str | None, str | None], ...] = (
    ("jia-town", UserRole.TOWNSHIP_OPERATOR, TOWNSHIP_A, None),
    ("yi-town", UserRole.TOWNSHIP_OPERATOR, TOWNSHIP_B, None),
    ("yi-zhujian", UserRole.DEPARTMENT_STAFF, None, "乙县住房和城乡建设局"),
    ("two-centre", UserRole.COMMAND_CENTRE, None, None),
)


def load_two_counties(session: Session, *, with_users: bool = False) -> None:
    """Import both counties, their townships, the departments and each county's list."""
    for level, file_name in (
        (Level.COUNTY, "counties.geojson"),
        (Level.TOWNSHIP, "townships.geojson"),
    ):
        import_layer(
            session,
            (DATA / file_name).read_bytes(),
            level=level,
            mapping=FieldMapping(
                name="name", code="code", parent=None if level is Level.COUNTY else "parent_code"
            ),
            source=file_name,
        )
    import_departments(session, DATA / "departments.csv")
    ensure_township_platforms(session)
    for county_code, file_name in LISTS.items():
        import_matter_list(
            session,
            DATA / file_name,
            county_code=county_code,
            effective_from=date(2025, 1, 1),
            publish=True,
        )
    if with_users:
        for username, role, township, department in USERS:
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                township_code=township,
                department_id=department_id(session, department) if department else None,
            )


def department_id(session: Session, name: str) -> int:
    """Return the id of a department by its full name."""
    found = session.exec(select(Department.id).where(Department.name == name)).first()
    assert found is not None, name
    return found
