"""The name book: board cards' names read once per build of the reference data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import event
from sqlmodel import Session, select

from dispatch.boards.cards import names_for
from dispatch.events.models import Assignment, AssignmentRole, Event
from dispatch.reference.models import Department, DepartmentKind, JurisdictionRow, Matter
from dispatch.reference.names import NameBook, use_names


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """Collect the statements the session's connection sends."""
    statements: list[str] = []
    connection = session.connection()

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", seen)


def _event(session: Session) -> tuple[Event, Assignment]:
    grid = session.exec(select(JurisdictionRow).where(JurisdictionRow.level == "grid")).first()
    matter = session.exec(select(Matter)).first()
    department = session.exec(select(Department)).first()
    assert grid is not None and matter is not None and department is not None
    assert department.id is not None
    village = session.get(JurisdictionRow, grid.parent_code)
    assert village is not None
    card_event = Event(
        id=1, client_id="n-1", source="grid", reported_at=datetime(2026, 12, 1, tzinfo=UTC),
        crs="wgs84", description="占道", lon=120.0, lat=31.0, raw_lon=120.0, raw_lat=31.0,
        township_code=village.parent_code, village_code=village.code,
        grid_code=grid.code, matter_code=matter.code, matter_list_id=matter.list_id,
        platform_code=matter.platform_code,
    )  # fmt: skip
    part = Assignment(id=1, event_id=1, department_id=department.id, role=AssignmentRole.LEAD)
    return card_event, part


def test_a_book_reads_each_name_once_and_the_same_names_as_without_it(
    demo_session: Session,
) -> None:
    card_event, part = _event(demo_session)
    with counted(demo_session) as plain:
        expected = names_for(demo_session, [card_event], [part])
    assert len(plain) == 4 and expected.places and expected.departments and expected.matters
    use_names(demo_session, NameBook())
    with counted(demo_session) as first:
        assert names_for(demo_session, [card_event], [part]) == expected
    with counted(demo_session) as again:
        assert names_for(demo_session, [card_event], [part]) == expected
    assert len(first) == 4 and again == [], "held names are not read again"


def test_a_book_reads_a_row_it_has_not_seen(demo_session: Session) -> None:
    card_event, part = _event(demo_session)
    use_names(demo_session, NameBook())
    names_for(demo_session, [card_event], [part])
    added = Department(name="新设探针局", kind=DepartmentKind.COUNTY_DEPARTMENT)
    demo_session.add(added)
    demo_session.flush()
    assert added.id is not None
    newer = Assignment(id=2, event_id=1, department_id=added.id, role=AssignmentRole.CO)
    with counted(demo_session) as statements:
        names = names_for(demo_session, [card_event], [part, newer])
    assert names.departments[added.id] == "新设探针局"
    assert len(statements) == 1, "only the department it lacked was read"
