"""The names of reference rows (places, departments, platforms, matters), kept as read.

A NameBook belongs to one build of the reference cache (`dispatch.routing.cache.Built`), so
it is as current as the router it sits beside: a rename moves the reference generation, the
next build brings a fresh book. It only saves queries: a name it does not hold is read
(and kept), so a row it has never seen is never missing. Intake's group commit and a routing
batch hand it to their transaction (`use_names`) for the board cards they publish; anything
else reads the names as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from dispatch.reference.models import Department, JurisdictionRow, Matter, Platform

# The session.info key under which a transaction carries its book.
NAME_BOOK = "sipingtai.name_book"
# The most names of one kind a book keeps (a province has some tens of thousands of grids).
KEPT = 100_000


class _Names:
    """One table's names by key: those held, and those read when asked for."""

    def __init__(self, key: Any, name: Any) -> None:
        self.key = key
        self.name = name
        self.held: dict[Any, str] = {}

    def of(self, session: Session, wanted: Iterable[Any]) -> dict[Any, str]:
        """Return the names of the wanted keys that exist, reading only those not held."""
        held = self.held
        keys = set(wanted)
        missing = sorted(k for k in keys if k not in held)
        found: dict[Any, str] = {}
        if missing:
            found = dict(
                session.exec(select(self.key, self.name).where(col(self.key).in_(missing))).all()
            )
            if len(held) + len(found) <= KEPT:
                held.update(found)
        return {k: v for k in keys if (v := held.get(k, found.get(k))) is not None}


class NameBook:
    """The names cards show, read once per build of the reference data."""

    def __init__(self) -> None:
        self.places = _Names(JurisdictionRow.code, JurisdictionRow.name)
        self.departments = _Names(Department.id, Department.name)
        self.platforms = _Names(Platform.code, Platform.name)
        self._matters: dict[tuple[int | None, str], str] = {}

    def matters(
        self, session: Session, wanted: Iterable[tuple[int | None, str]]
    ) -> dict[tuple[int | None, str], str]:
        """Return the names of (list id, matter code) pairs, reading only those not held."""
        held = self._matters
        keys = {(list_id, code) for list_id, code in wanted if list_id is not None}
        missing = [k for k in keys if k not in held]
        found: dict[tuple[int | None, str], str] = {}
        if missing:
            for list_id, code, name in session.exec(
                select(Matter.list_id, Matter.code, Matter.name).where(
                    col(Matter.list_id).in_(sorted({k[0] for k in missing})),
                    col(Matter.code).in_(sorted({k[1] for k in missing})),
                )
            ).all():
                found[(list_id, code)] = name
            if len(held) + len(found) <= KEPT:
                held.update(found)
        return {k: v for k in keys if (v := held.get(k, found.get(k))) is not None}


def use_names(session: Session, book: NameBook) -> None:
    """Let this session's board cards take their names from the book."""
    session.info[NAME_BOOK] = book


def names_in(session: Session) -> NameBook | None:
    """Return the book this session was given, if any."""
    book = session.info.get(NAME_BOOK)
    return book if isinstance(book, NameBook) else None
