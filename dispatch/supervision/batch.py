"""What the scheduler's set-based rounds share: a batch's events and names, read once each."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from dispatch.events.models import Event
from dispatch.reference.models import Department

# Ids per IN list: well inside SQLite's bound parameters and PostgreSQL's comfort.
CHUNK = 5000


def events_by_id(session: Session, ids: Iterable[int]) -> dict[int, Event]:
    """Return the events of a batch by id (the steps' subjects, whose cards the boards get)."""
    wanted = sorted(set(ids))
    found: dict[int, Event] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        for event in session.exec(select(Event).where(col(Event.id).in_(chunk))).all():
            assert event.id is not None
            found[event.id] = event
    return found


def department_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Return the names of a batch's departments by id."""
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        found.update(
            session.exec(
                select(Department.id, Department.name).where(col(Department.id).in_(chunk))
            ).all()  # type: ignore[arg-type]
        )
    return found
