"""The ledger's rows: events read in batches by id (keyset), each batch's parts, the sums of
its parts' times and its steps' in one query each, so memory stays flat however many match.

Each batch runs in its own short session: a download that a slow client takes minutes to
read holds no connection (nor, on SQLite, the write lock) between batches. Events are
never deleted and ids only grow, so keyset pagination yields each event exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    String,
    TypeDecorator,
    and_,
    case,
    func,
    type_coerce,
)
from sqlalchemy import select as columns_of
from sqlmodel import Session, col, select

from dispatch.core.db import StrEnumType
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

# Events per batch: large enough that the queries per batch (and building them) cost little
# per row, small enough that a batch's rows (and its parts and steps) stay a few megabytes.
BATCH_SIZE = 5000

# Statuses and roles are read as their stored text (no enum member built per row), so the
# tables here are keyed by value: a StrEnum member does not hash as its value does.
_CLOSED = frozenset({EventStatus.CLOSED.value, EventStatus.RATED.value})
_OPEN = frozenset(s.value for s in OPEN)
_STATUS_LABELS = {s.value: label for s, label in EVENT_LABELS.items()}
_STEP_ACTIONS = ("sign", "verify_pass")

_EVENT_FIELDS = (
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
_PART_FIELDS = (
    Assignment.id,
    Assignment.event_id,
    Assignment.department_id,
    Assignment.role,
    Assignment.round,
    Assignment.status,
)


def _plain(column: Any, native_times: bool) -> Any:
    """Read a column with the least work per value: a status or role as its stored text.

    On PostgreSQL the driver already returns aware datetimes, so times skip the UTC type's
    per-value conversion; SQLite stores text, which that type parses.
    """
    kind = column.type
    if isinstance(kind, StrEnumType):
        return type_coerce(column, String)
    if native_times and isinstance(kind, TypeDecorator) and isinstance(kind.impl, DateTime):
        return type_coerce(column, DateTime(timezone=True))
    return column


Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """Which events the ledger holds (the events list's conditions) and the moment it is as of."""

    conditions: tuple[ColumnElement[bool], ...]
    now: datetime


def ledger_batches(
    engine: Engine, query: LedgerQuery, *, batch_size: int | None = None
) -> Iterator[list[Row]]:
    """Yield the ledger's rows (one per event, in columns.COLUMNS order) a batch at a time.

    The next batch's queries run in a helper thread while the caller's thread builds this
    batch's rows and writes them out: the thread mostly waits on the database (the GIL let
    go), so the database's work and Python's overlap. At most two batches are held at once.
    """
    size = batch_size or BATCH_SIZE
    with Session(engine) as session:
        names = _Names.load(session)

    def read(after: int | None) -> _Fetched | None:
        with Session(engine) as session:
            return _fetch_batch(session, query, after, size, names)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger") as reader:
        pending: Future[_Fetched | None] | None = reader.submit(read, None)
        try:
            while pending is not None:
                fetched = pending.result()
                if fetched is None:
                    break
                full = len(fetched.events) == size
                pending = reader.submit(read, fetched.events[-1][0]) if full else None
                yield _rows_of(fetched, names, query.now)
        finally:
            if pending is not None:  # the caller stopped early (a download abandoned)
                pending.cancel()


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One batch as read: its events, their parts, and the sums of their parts and steps."""

    events: Sequence[Any]
    parts: dict[Any, list[Any]]
    of_parts: dict[Any, tuple[Any, ...]]
    steps: dict[Any, tuple[datetime | None, datetime | None]]


def _fetch_batch(
    session: Session, query: LedgerQuery, after: int | None, size: int, names: _Names
) -> _Fetched | None:
    # Plain rows of the columns a row needs, through the connection: no ORM objects to build.
    connection = session.connection()
    native = connection.dialect.name == "postgresql"
    if native:
        # Times come back with datetime.timezone.utc, not zoneinfo's Etc/UTC (the server's
        # name for UTC): psycopg loads those several times faster, and they convert and
        # compare faster. The same instants; only this transaction's setting.
        connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")

    def plain(*fields: Any) -> list[Any]:
        return [_plain(col(f), native) for f in fields]

    def fetch(statement: Any) -> Sequence[Any]:
        result = connection.execute(statement)
        if not native:
            return result.all()
        # Nothing to convert on PostgreSQL (see _plain): the driver's own tuples, no Row each.
        rows: Sequence[Any] = result.cursor.fetchall()
        result.close()
        return rows

    keyset = columns_of(*plain(*_EVENT_FIELDS)).where(*query.conditions)
    if after is not None:
        keyset = keyset.where(col(Event.id) > after)
    events = fetch(keyset.order_by(col(Event.id)).limit(size))
    if not events:
        return None
    # The batch's parts and steps: those of its id range (an index range scan, no thousand
    # parameters to bind), narrowed by the filter when there is one.
    first, last = events[0][0], events[-1][0]

    def of_batch(event_id: Any) -> list[ColumnElement[bool]]:
        within = [event_id >= first, event_id <= last]
        if query.conditions:
            chosen = columns_of(col(Event.id)).where(
                col(Event.id) >= first, col(Event.id) <= last, *query.conditions
            )
            within.append(event_id.in_(chosen))
        return within

    def time_of(field: Any) -> Any:
        return _plain(col(field), native)

    # Each part without its times (those cost the most to load), but a lead's deadlines.
    lead_sign_by = case((_LEAD_PART, time_of(Assignment.sign_by)))
    lead_handle_by = case((_LEAD_PART, time_of(Assignment.handle_by)))
    parts: defaultdict[Any, list[Any]] = defaultdict(list)
    for part in fetch(
        columns_of(*plain(*_PART_FIELDS), lead_sign_by, lead_handle_by)
        .where(*of_batch(col(Assignment.event_id)))
        .order_by(col(Assignment.id))
    ):
        parts[part[1]].append(part)
    # Per event, from all its parts (cancelled too): the first dispatch, the last feedback,
    # and whether one was late to sign or to handle (as of now where it is still open).
    sign_by, handle_by = time_of(Assignment.sign_by), time_of(Assignment.handle_by)
    fed_back = time_of(Assignment.fed_back_at)
    status = type_coerce(col(Assignment.status), String)
    now = query.now
    late_to_sign = and_(
        sign_by.is_not(None),
        (time_of(Assignment.answered_at) > sign_by) | and_(status == _PENDING, sign_by <= now),
    )
    late_to_handle = and_(
        handle_by.is_not(None),
        and_(status == _FED_BACK, fed_back > handle_by)
        | and_(status.in_((_PENDING, _SIGNED)), handle_by <= now),
    )
    of_parts: dict[Any, tuple[Any, ...]] = {
        row[0]: row
        for row in fetch(
            columns_of(
                col(Assignment.event_id),
                func.min(time_of(Assignment.created_at)),
                func.max(fed_back),
                func.max(case((late_to_sign, 1), else_=0)),
                func.max(case((late_to_handle, 1), else_=0)),
            )
            .where(*of_batch(col(Assignment.event_id)))
            .group_by(col(Assignment.event_id))
        )
    }
    # Per event, from its steps: the lead's first signing and the last passed check.
    steps: dict[Any, tuple[datetime | None, datetime | None]] = {
        event_id: (signed, verified)
        for event_id, signed, verified in fetch(
            columns_of(
                col(Step.event_id),
                func.min(case((and_(col(Step.action) == "sign", _LEAD_PART), time_of(Step.at)))),
                func.max(case((col(Step.action) == "verify_pass", time_of(Step.at)))),
            )
            .select_from(Step)
            # A step's part is its event's, so the batch's range bounds the parts too: without
            # it PostgreSQL hashes the whole assignment table for every batch.
            .outerjoin(
                Assignment,
                and_(
                    col(Assignment.id) == col(Step.assignment_id),
                    col(Assignment.event_id) >= first,
                    col(Assignment.event_id) <= last,
                ),
            )
            .where(*of_batch(col(Step.event_id)), col(Step.action).in_(_STEP_ACTIONS))
            .group_by(col(Step.event_id))
        )
    }
    names.need_places(session, events)
    return _Fetched(events, parts, of_parts, steps)


def _rows_of(fetched: _Fetched, names: _Names, now: datetime) -> list[Row]:
    """Build a fetched batch's rows."""
    row, parts, of_parts, steps = _row, fetched.parts, fetched.of_parts, fetched.steps
    return [
        row(
            e,
            parts.get(e[0], ()),
            of_parts.get(e[0], _NO_PARTS),
            steps.get(e[0], _NO_STEPS),
            names,
            now,
        )
        for e in fetched.events
    ]


_NO_STEPS: tuple[None, None] = (None, None)
_NO_PARTS: tuple[None, None, None, int, int] = (None, None, None, 0, 0)
_LEAD_PART = col(Assignment.role) == AssignmentRole.LEAD.value
_LEAD, _CO, _TERRITORIAL = (r.value for r in AssignmentRole)
_PENDING, _SIGNED, _FED_BACK, _CANCELLED = (
    AssignmentStatus.PENDING.value,
    AssignmentStatus.SIGNED.value,
    AssignmentStatus.FED_BACK.value,
    AssignmentStatus.CANCELLED.value,
)


def _row(
    e: Any,
    parts: Sequence[Any],
    of_parts: tuple[Any, ...],
    steps: tuple[datetime | None, datetime | None],
    names: _Names,
    now: datetime,
) -> Row:
    """Build one event's row from its parts and the sums of them (this runs 100,000 times)."""
    (
        event_id, reported_at, received_at, matter_code, list_id, platform_code, township,
        village, grid, address, description, status, sign_by, handle_by, closed_at, rating,
        reworks,
    ) = e  # fmt: skip
    _, dispatched_at, fed_back_at, signed_late, handled_late = of_parts
    in_force = [p for p in parts if p[5] != _CANCELLED]
    if not in_force and parts:
        in_force = _last_of_each_role(parts)
    lead = None
    co: list[Any] = []
    territorial: list[Any] = []
    for part in in_force:
        role = part[3]
        if role == _LEAD:
            if lead is None or (part[4], part[0]) > (lead[4], lead[0]):
                lead = part
        elif role == _CO:
            co.append(part)
        elif role == _TERRITORIAL:
            territorial.append(part)
    if lead is not None:
        sign_by = lead[6] or sign_by
        handle_by = lead[7] or handle_by
    if handle_by is not None and not handled_late:
        # The event closed after its handle-by, or is still open past it.
        handled_late = (
            closed_at > handle_by
            if closed_at is not None
            else (status in _OPEN and handle_by <= now)
        )
    department = names.departments_of
    return (
        event_id,
        reported_at,
        received_at,
        matter_code,
        names.matter(list_id, matter_code),
        names.platforms.get(platform_code) if platform_code else None,
        names.place(township),
        names.place(village),
        names.place(grid),
        address,
        description,
        _STATUS_LABELS[status],
        department((lead,)) if lead is not None else None,
        department(co),
        department(territorial),
        dispatched_at,
        steps[0],
        fed_back_at,
        steps[1],
        closed_at,
        sign_by,
        handle_by,
        bool(signed_late),
        bool(handled_late),
        reworks,
        rating,
        names.versions.get(list_id) if list_id else None,
        status in _CLOSED,
    )


def _last_of_each_role(parts: Sequence[Any]) -> list[Any]:
    last: dict[str, Any] = {}
    for part in parts:
        held = last.get(part[3])
        if held is None or (part[4], part[0]) > (held[4], held[0]):
            last[part[3]] = part
    return list(last.values())


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
        self._departments_text: dict[tuple[int, ...], str] = {}

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
        codes: set[str | None] = set()
        for e in events:
            codes.update(e[6:9])  # township_code, village_code, grid_code (_EVENT_FIELDS)
        codes.discard(None)
        codes.difference_update(self.places)
        if codes:
            found = session.exec(
                select(JurisdictionRow.code, JurisdictionRow.name).where(
                    col(JurisdictionRow.code).in_(sorted(c for c in codes if c))
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

    def departments_of(self, parts: Sequence[Any]) -> str | None:
        """Return the parts' department names, each once, joined by 、."""
        if not parts:
            return None
        if len(parts) == 1:  # the usual part of a role: one department, named once
            department_id = parts[0][2]
            name = self.departments.get(department_id)
            return name if name is not None else f"部门#{department_id}"
        key = tuple(part[2] for part in parts)
        text = self._departments_text.get(key)
        if text is None:
            seen: dict[str, None] = {}
            for department_id in key:
                name = self.departments.get(department_id)
                seen[name if name is not None else f"部门#{department_id}"] = None
            text = "、".join(seen)
            if len(self._departments_text) < _DEPARTMENT_SETS:
                self._departments_text[key] = text
        return text


# How many sets of departments' joined names an export keeps (memory stays bounded).
_DEPARTMENT_SETS = 10_000
