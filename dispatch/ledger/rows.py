"""The ledger's rows: events read in batches by id (keyset), each batch's parts and steps in
one query each, so memory stays flat however many events match.

Each batch runs in its own short session: a download that a slow client takes minutes to
read holds no connection (nor, on SQLite, the write lock) between batches. Events are
never deleted and ids only grow, so keyset pagination yields each event exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine
from sqlalchemy import select as columns_of
from sqlmodel import Session, col, select

from dispatch.events.lifecycle import EVENT_LABELS, OPEN
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    EventStatus,
    Step,
)
from dispatch.reference.models import Department, JurisdictionRow, Matter, MatterList, Platform

# Events per batch: large enough that the three queries per batch cost little per row,
# small enough that a batch's rows (and its parts and steps) stay a few megabytes.
BATCH_SIZE = 1000

_CLOSED = (EventStatus.CLOSED, EventStatus.RATED)
_OPEN = frozenset(OPEN)
_STEP_ACTIONS = ("sign", "verify_pass")

_EVENT_COLUMNS = tuple(
    col(c)
    for c in (
        Event.id,
        Event.reported_at,
        Event.received_at,
        Event.matter_code,
        Event.matter_list_id,
        Event.platform_code,
        Event.township_code,
        Event.village_code,
        Event.grid_code,
        Event.address,
        Event.description,
        Event.status,
        Event.sign_by,
        Event.handle_by,
        Event.closed_at,
        Event.rating,
        Event.rework_count,
    )
)
_PART_COLUMNS = tuple(
    col(c)
    for c in (
        Assignment.id,
        Assignment.event_id,
        Assignment.department_id,
        Assignment.role,
        Assignment.round,
        Assignment.status,
        Assignment.sign_by,
        Assignment.handle_by,
        Assignment.answered_at,
        Assignment.fed_back_at,
        Assignment.created_at,
    )
)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """Which events the ledger holds (the events list's conditions) and the moment it is as of."""

    conditions: tuple[ColumnElement[bool], ...]
    now: datetime


def ledger_batches(
    engine: Engine, query: LedgerQuery, *, batch_size: int | None = None
) -> Iterator[list[Row]]:
    """Yield the ledger's rows (one per event, in columns.COLUMNS order) a batch at a time."""
    size = batch_size or BATCH_SIZE
    names: _Names | None = None
    after: int | None = None
    while True:
        with Session(engine) as session:
            names = names or _Names.load(session)
            batch = _read_batch(session, query, after, size, names)
        if batch:
            yield batch
        if len(batch) < size:
            return
        after = batch[-1][0]


def _read_batch(
    session: Session, query: LedgerQuery, after: int | None, size: int, names: _Names
) -> list[Row]:
    # Plain rows of the columns a row needs, through the connection: no ORM objects to build.
    connection = session.connection()
    keyset = columns_of(*_EVENT_COLUMNS).where(*query.conditions)
    if after is not None:
        keyset = keyset.where(col(Event.id) > after)
    events = connection.execute(keyset.order_by(col(Event.id)).limit(size)).all()
    if not events:
        return []
    ids = [e[0] for e in events]
    parts: defaultdict[int, list[Any]] = defaultdict(list)
    for part in connection.execute(
        columns_of(*_PART_COLUMNS)
        .where(col(Assignment.event_id).in_(ids))
        .order_by(col(Assignment.id))
    ):
        parts[part.event_id].append(part)
    steps = connection.execute(
        columns_of(col(Step.event_id), col(Step.assignment_id), col(Step.action), col(Step.at))
        .where(col(Step.event_id).in_(ids), col(Step.action).in_(_STEP_ACTIONS))
        .order_by(col(Step.at), col(Step.id))
    ).all()
    first_sign: dict[int, datetime] = {}  # by assignment
    verified: dict[int, datetime] = {}  # by event: the last pass
    for event_id, assignment_id, action, at in steps:
        if action == "sign":
            if assignment_id is not None:
                first_sign.setdefault(assignment_id, at)
        else:
            verified[event_id] = at
    names.need_places(session, events)
    return [
        _row(e, parts.get(e.id, []), first_sign, verified.get(e.id), names, query.now)
        for e in events
    ]


def _row(
    e: Any,
    parts: Sequence[Any],
    first_sign: dict[int, datetime],
    verified_at: datetime | None,
    names: _Names,
    now: datetime,
) -> Row:
    in_force = [p for p in parts if p.status != AssignmentStatus.CANCELLED] or _last_of_each_role(
        parts
    )
    leads = [p for p in in_force if p.role == AssignmentRole.LEAD]
    lead = max(leads, key=lambda p: (p.round, p.id)) if leads else None
    lead_signs = [
        first_sign[p.id] for p in parts if p.role == AssignmentRole.LEAD and p.id in first_sign
    ]
    fed_back = [p.fed_back_at for p in parts if p.fed_back_at is not None]
    sign_by = lead.sign_by if lead is not None and lead.sign_by is not None else e.sign_by
    handle_by = lead.handle_by if lead is not None and lead.handle_by is not None else e.handle_by
    return (
        e.id,
        e.reported_at,
        e.received_at,
        e.matter_code,
        names.matter(e.matter_list_id, e.matter_code),
        names.platforms.get(e.platform_code) if e.platform_code else None,
        names.place(e.township_code),
        names.place(e.village_code),
        names.place(e.grid_code),
        e.address,
        e.description,
        EVENT_LABELS[EventStatus(e.status)],
        names.departments_of(p for p in [lead] if p is not None),
        names.departments_of(p for p in in_force if p.role == AssignmentRole.CO),
        names.departments_of(p for p in in_force if p.role == AssignmentRole.TERRITORIAL),
        min(p.created_at for p in parts) if parts else None,
        min(lead_signs) if lead_signs else None,
        max(fed_back) if fed_back else None,
        verified_at,
        e.closed_at,
        sign_by,
        handle_by,
        any(_signed_late(p, now) for p in parts),
        _closed_late(e, now) or any(_handled_late(p, now) for p in parts),
        e.rework_count,
        e.rating,
        names.versions.get(e.matter_list_id) if e.matter_list_id else None,
        e.status in _CLOSED,
    )


def _last_of_each_role(parts: Sequence[Any]) -> list[Any]:
    last: dict[str, Any] = {}
    for part in parts:
        held = last.get(part.role)
        if held is None or (part.round, part.id) > (held.round, held.id):
            last[part.role] = part
    return list(last.values())


def _signed_late(part: Any, now: datetime) -> bool:
    """A part answered (signed or returned) after its sign-by, or still pending past it."""
    due = part.sign_by
    if due is None:
        return False
    if part.answered_at is not None and part.answered_at > due:
        return True
    return bool(part.status == AssignmentStatus.PENDING and due <= now)


def _handled_late(part: Any, now: datetime) -> bool:
    """A part fed back after its handle-by, or still being handled past it."""
    due = part.handle_by
    if due is None:
        return False
    if part.status == AssignmentStatus.FED_BACK:
        return bool(part.fed_back_at is not None and part.fed_back_at > due)
    live = part.status in (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
    return bool(live and due <= now)


def _closed_late(e: Any, now: datetime) -> bool:
    """The event closed after its handle-by, or still open past it."""
    due = e.handle_by
    if due is None:
        return False
    if e.closed_at is not None:
        return bool(e.closed_at > due)
    return bool(e.status in _OPEN and due <= now)


class _Names:
    """The names a row shows, read once per export (places as batches need them)."""

    def __init__(
        self,
        departments: dict[int, str],
        platforms: dict[str, str],
        versions: dict[int, int],
        matters: dict[tuple[int, str], str],
    ) -> None:
        self.departments = departments
        self.platforms = platforms
        self.versions = versions
        self.matters = matters
        # A matter code without the list that routed it (即报即办): its name in the newest list.
        self.latest_matters: dict[str, str] = {}
        for (_, code), name in sorted(matters.items()):
            self.latest_matters[code] = name
        self.places: dict[str, str] = {}

    @classmethod
    def load(cls, session: Session) -> _Names:
        """Read the departments, platforms, list versions and matters (small tables)."""
        departments = {i: n for i, n in session.exec(select(Department.id, Department.name))}
        platforms = {c: n for c, n in session.exec(select(Platform.code, Platform.name))}
        versions = {i: v for i, v in session.exec(select(MatterList.id, MatterList.version))}
        rows = session.exec(select(Matter.list_id, Matter.code, Matter.name))
        matters = {(list_id, code): name for list_id, code, name in rows}
        return cls(
            {i: n for i, n in departments.items() if i is not None},
            platforms,
            {i: v for i, v in versions.items() if i is not None},
            matters,
        )

    def need_places(self, session: Session, events: Sequence[Any]) -> None:
        """Read the names of the batch's townships, villages and grids not read yet."""
        codes = {
            code
            for e in events
            for code in (e.township_code, e.village_code, e.grid_code)
            if code is not None and code not in self.places
        }
        if codes:
            found = session.exec(
                select(JurisdictionRow.code, JurisdictionRow.name).where(
                    col(JurisdictionRow.code).in_(sorted(codes))
                )
            )
            self.places.update(dict(found.all()))

    def place(self, code: str | None) -> str | None:
        """Return a jurisdiction's name (its code if it is gone)."""
        return self.places.get(code, code) if code is not None else None

    def matter(self, list_id: int | None, code: str | None) -> str | None:
        """Return a matter's name in the list version that routed the event."""
        if code is None:
            return None
        if list_id is not None and (found := self.matters.get((list_id, code))) is not None:
            return found
        return self.latest_matters.get(code)

    def departments_of(self, parts: Any) -> str | None:
        """Return the parts' department names, each once, joined by 、."""
        seen: dict[str, None] = {}
        for part in parts:
            name = self.departments.get(part.department_id)
            seen[name if name is not None else f"部门#{part.department_id}"] = None
        return "、".join(seen) or None
