"""Build the facts of a span of time (reports/facts.py) from its parts, in columns.

A handful of queries on either database: the span's counted parts with their row keys and
their times as integer microseconds (computed in SQL, so no datetime objects are made), the
parts of the same events outside the span (which events must be kept by id), the side paths
joined by part, and the events reported in the span. Everything after the fetch is array
arithmetic (numpy): a year of a large county's parts in seconds, a day's in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    cast,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from dispatch.disputes.models import Dispute, DisputeParty, DisputeStatus
from dispatch.events.models import (
    Assignment,
    AssignmentStatus,
    Escalation,
    Event,
    EventStatus,
    ExtensionRequest,
    ExtensionStatus,
    SupervisionNotice,
)
from dispatch.reference.models import Department
from dispatch.reports.facts import (
    COUNTS,
    KINDS,
    RATINGS,
    TOTAL,
    VALUES,
    WHOLE,
    Dimension,
    Facts,
    KindFacts,
)
from dispatch.reports.grouping import is_postgres
from dispatch.reports.scope import ReportScope

A = AssignmentStatus
NOT_VOLUME = (EventStatus.MERGED, EventStatus.INVALID)
NONE = -1  # a time that is not there (every stored time is after 1970)
MICROS = 1_000_000
# The columns of a part that are its keys, in KINDS order but the whole (one key for all).
PART_KINDS = (
    Dimension.DEPARTMENT.value,
    Dimension.UNIT.value,
    Dimension.TOWNSHIP.value,
    Dimension.MATTER.value,
    Dimension.PLATFORM.value,
)
EVENT_KINDS = (Dimension.TOWNSHIP.value, Dimension.MATTER.value, Dimension.PLATFORM.value)
_COUNT_AT = {name: i for i, name in enumerate(COUNTS)}
_VALUE_AT = {name: i for i, name in enumerate(VALUES)}
# A row code and an event id in one int64: ids below 2⁴⁰, codes (a few hundred rows) above
# them, with three bits to spare for a rating.
_EVENT_BITS = 40


def collect(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    scope: ReportScope | None = None,
    kinds: Iterable[str] = KINDS,
) -> Facts:
    """Return the facts of the parts dispatched in [start, end) that the scope sees.

    A part counts unless it was cancelled before it was ever returned (a merge or a closed
    event's part is nobody's work); its side paths count with it.
    """
    scope = scope or ReportScope()
    tallies = _Tallies(session, start, end, scope, tuple(kinds))
    tallies.parts()
    tallies.side_paths()
    if scope.department_ids is None:  # a department reads its parts, not its area's reports
        tallies.reported()
    return tallies.facts()


# ---- SQL pieces ----------------------------------------------------------------------------


def micros(session: Session, moment: Any) -> ColumnElement[int]:
    """Return a time as integer microseconds since 1970 (NONE when it is NULL), in SQL."""
    exact: ColumnElement[int]
    if is_postgres(session):
        exact = cast(func.extract("epoch", moment) * MICROS, BigInteger)
    else:
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds, then the digits.
        exact = cast(func.strftime("%s", moment), BigInteger) * MICROS + cast(
            func.substr(moment, 21, 6), Integer
        )
    return func.coalesce(exact, NONE)


def _part_filter(start: datetime, end: datetime, scope: ReportScope) -> list[ColumnElement[bool]]:
    a = Assignment
    where = [col(a.created_at) >= start, col(a.created_at) < end]
    if scope.department_ids is not None:
        where.append(col(a.department_id).in_(sorted(scope.department_ids)))
    return where


def _counted() -> ColumnElement[bool]:
    """A part counts unless it was cancelled before it was ever returned."""
    a = Assignment
    return not_(and_(col(a.status) == A.CANCELLED, col(a.returns) == 0))


def _key_columns() -> list[Any]:
    """A part's keys, in PART_KINDS order."""
    a, e, d = Assignment, Event, Department
    return [
        func.coalesce(col(d.parent_id), col(d.id)),
        col(a.department_id),
        col(e.township_code),
        col(e.matter_code),
        col(e.platform_code),
    ]


def _int_column(rows: Sequence[Sequence[Any]], i: int) -> np.ndarray:
    return np.fromiter((r[i] for r in rows), dtype=np.int64, count=len(rows))


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """Return the rows as columns (one transposition in C, not a loop per value)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def _ints(column: tuple[Any, ...]) -> np.ndarray:
    return np.array(column, dtype=np.int64)


class _Tallies:
    """The facts of one span being built: row codes per kind, counts and kept values."""

    def __init__(
        self,
        session: Session,
        start: datetime,
        end: datetime,
        scope: ReportScope,
        kinds: tuple[str, ...],
    ) -> None:
        self.session, self.start, self.end, self.scope = session, start, end, scope
        self.kinds = kinds
        self.index: dict[str, dict[Any, int]] = {kind: {} for kind in KINDS}
        self.index[WHOLE][TOTAL] = 0
        self.part_ids = np.empty(0, dtype=np.int64)
        self.part_order = np.empty(0, dtype=np.int64)
        self.codes: dict[str, np.ndarray] = {}  # per kind, each part's row code
        self.count_pieces: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {
            k: [] for k in KINDS
        }  # (count index, row codes, how many)
        self.value_pieces: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {
            k: [] for k in KINDS
        }  # (value index, row codes, values)

    def _rows(self, query: Any) -> Sequence[Any]:
        """Run a select on the session's connection: Core rows, no ORM result machinery."""
        return self.session.connection().execute(query).all()

    # -- codes --

    def _code(self, kind: str, keys: Iterable[Any]) -> np.ndarray:
        index = self.index[kind]
        return np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64)

    def _codes_of(self, columns: list[tuple[Any, ...]], first: int) -> dict[str, np.ndarray]:
        """Return each kind's row codes of rows whose keys are the columns from `first` on."""
        codes = {}
        for j, kind in enumerate(PART_KINDS):
            if kind not in self.kinds:
                continue
            index, keys = self.index[kind], columns[first + j]
            if j < 2:  # department and unit ids, named as text: each distinct id once
                ids, inverse = np.unique(_ints(keys), return_inverse=True)
                mapping = [index.setdefault(str(i), len(index)) for i in ids.tolist()]
                codes[kind] = np.asarray(mapping, dtype=np.int64)[inverse]
            else:
                codes[kind] = np.asarray(
                    [index.setdefault(k, len(index)) for k in keys], dtype=np.int64
                )
        codes[WHOLE] = np.zeros(len(columns[0]), dtype=np.int64)
        return codes

    def count(self, name: str, mask: np.ndarray, at: np.ndarray | None = None) -> None:
        """Count one measure for the parts where mask holds (or at these parts' indexes)."""
        for kind in self.kinds:
            codes = self.codes[kind] if at is None else self.codes[kind][at]
            self.count_pieces[kind].append((_COUNT_AT[name], codes[mask], np.ones(1, np.int64)))

    def keep(
        self, name: str, mask: np.ndarray, values: np.ndarray, at: np.ndarray | None = None
    ) -> None:
        """Keep one value of the parts where mask holds (or of these parts' indexes)."""
        for kind in self.kinds:
            codes = self.codes[kind] if at is None else self.codes[kind][at]
            self.value_pieces[kind].append((_VALUE_AT[name], codes[mask], values[mask]))

    # -- the parts --

    def parts(self) -> None:
        """Read the span's counted parts and tally their own measures and their events."""
        a, e, d = Assignment, Event, Department
        s = self.session
        query = (
            select(
                col(a.id),
                col(a.event_id),
                *_key_columns(),
                cast(col(a.status), String),  # text: no enum made per part
                micros(s, col(a.created_at)),
                micros(s, col(a.sign_by)),
                micros(s, col(a.answered_at)),
                micros(s, col(a.handle_by)),
                micros(s, col(a.fed_back_at)),
                col(a.returns),
                col(a.reworks),
                func.coalesce(col(e.rating), 0),
            )
            .join(e, col(e.id) == col(a.event_id))
            .join(d, col(d.id) == col(a.department_id))
            .where(*_part_filter(self.start, self.end, self.scope), _counted())
        )
        if self.scope.township_code is not None:
            query = query.where(col(e.township_code) == self.scope.township_code)
        columns = _columns(self._rows(query), 16)
        self.part_ids = _ints(columns[0])
        self.part_order = np.argsort(self.part_ids)  # the side paths find their parts by it
        self.codes = self._codes_of(columns, 2)
        event = _ints(columns[1])
        status = np.array(columns[7], dtype=str)
        created, sign_by, answered, handle_by, fed_back_at = (
            _ints(columns[i]) for i in range(8, 13)
        )
        returns, reworks, rating = (_ints(columns[i]) for i in (13, 14, 15))
        fed_back = status == A.FED_BACK.value
        held = np.isin(status, [A.PENDING.value, A.SIGNED.value, A.FED_BACK.value])
        everyone = np.ones(len(event), dtype=bool)
        has_sign_by, was_answered = sign_by != NONE, answered != NONE
        has_handle_by, has_fed_back = handle_by != NONE, fed_back_at != NONE

        self.count("parts", everyone)
        self.count("answered_with_deadline", has_sign_by & was_answered)
        self.count("signed_on_time", has_sign_by & was_answered & (answered <= sign_by))
        self.keep("open_sign_by", has_sign_by & ~was_answered, sign_by)
        self.count("fed_back_with_deadline", has_handle_by & fed_back)
        self.count(
            "completed_on_time",
            has_handle_by & fed_back & has_fed_back & (fed_back_at <= handle_by),
        )
        self.keep("open_handle_by", has_handle_by & held & ~fed_back, handle_by)
        self.count("completed", fed_back)
        self.keep("feedback_seconds", fed_back & has_fed_back, _seconds(fed_back_at, created))
        self.count("returned", returns > 0)
        self.count("fed_back_once", has_fed_back)
        self.count("reworked", reworks > 0)
        self.keep("sign_seconds", was_answered, _seconds(answered, created))
        rated = fed_back & np.isin(rating, RATINGS)
        self._events(event, np.where(rated, rating, 0))

    def _events(self, event: np.ndarray, rating: np.ndarray) -> None:
        """Count each row's distinct events (and rated ones): where the event's parts of the
        row are all in the span, here; else kept by id, to be counted once over any merge."""
        outside = self._outside()
        for kind in self.kinds:
            codes = self.codes[kind]
            pair = (codes << _EVENT_BITS) | event
            shared = np.isin(pair, outside.get(kind, np.empty(0, np.int64)))
            alone = distinct(pair[~shared])
            self.count_pieces[kind].append(
                (_COUNT_AT["events_alone"], alone >> _EVENT_BITS, np.ones(1, np.int64))
            )
            self.value_pieces[kind].append(
                (_VALUE_AT["events_shared"], codes[shared], event[shared])
            )
            rated = rating > 0
            alone_rated = distinct(((pair << 3) | rating)[~shared & rated])
            for r in RATINGS:
                found = alone_rated[(alone_rated & 7) == r] >> (3 + _EVENT_BITS)
                self.count_pieces[kind].append(
                    (_COUNT_AT[f"rated_alone_{r}"], found, np.ones(1, np.int64))
                )
            both = shared & rated
            self.value_pieces[kind].append(
                (_VALUE_AT["rated_shared"], codes[both], event[both] * 8 + rating[both])
            )

    def _outside(self) -> dict[str, np.ndarray]:
        """Return, per kind, (row code, event) of every counted part outside the span of an
        event that has parts in it."""
        a, e, d = Assignment, Event, Department
        in_span = select(col(a.event_id)).where(*_part_filter(self.start, self.end, self.scope))
        query = (
            select(col(a.event_id), *_key_columns())
            .join(e, col(e.id) == col(a.event_id))
            .join(d, col(d.id) == col(a.department_id))
            .where(
                col(a.event_id).in_(in_span),
                or_(col(a.created_at) < self.start, col(a.created_at) >= self.end),
                _counted(),
            )
        )
        if self.scope.department_ids is not None:
            query = query.where(col(a.department_id).in_(sorted(self.scope.department_ids)))
        rows = self._rows(query)
        if not rows:
            return {}
        columns = _columns(rows, 6)
        event = _ints(columns[0])
        codes = self._codes_of(columns, 1)
        return {kind: (codes[kind] << _EVENT_BITS) | event for kind in self.kinds}

    # -- the side paths --

    def side_paths(self) -> None:
        """Tally the notices, extension requests, escalations and disputes of the parts."""
        s, a = self.session, Assignment
        where = _part_filter(self.start, self.end, self.scope)
        n, x, e = SupervisionNotice, ExtensionRequest, Escalation
        notices = self._side(
            select(col(n.assignment_id), col(n.level)).join(a, col(a.id) == col(n.assignment_id)),
            where,
        )
        if notices is not None:
            at, rows = notices
            levels = np.array([str(r[1]) for r in rows], dtype=str)
            for level in ("normal", "yellow", "red"):
                self.count(f"notices_{level}", levels == level, at)
        extensions = self._side(
            select(col(x.assignment_id), col(x.status)).join(a, col(a.id) == col(x.assignment_id)),
            where,
        )
        if extensions is not None:
            at, rows = extensions
            approved = np.array([r[1] == ExtensionStatus.APPROVED for r in rows], dtype=bool)
            self.count("extensions_asked", np.ones(len(rows), dtype=bool), at)
            self.count("extensions_granted", approved, at)
        # 乡呼县应 count with the county part that answered them (its department, its place).
        escalations = self._side(
            select(
                col(e.response_assignment_id),
                micros(s, col(e.called_at)),
                micros(s, col(e.responded_at)),
                micros(s, col(e.respond_by)),
            ).join(a, col(a.id) == col(e.response_assignment_id)),
            where,
        )
        if escalations is not None:
            at, rows = escalations
            called, responded, respond_by = (_int_column(rows, i) for i in (1, 2, 3))
            answered = responded != NONE
            self.count("escalations", np.ones(len(rows), dtype=bool), at)
            on_time = answered & (respond_by != NONE) & (responded <= respond_by)
            self.count("escalations_answered_on_time", on_time, at)
            self.keep("escalation_seconds", answered, _seconds(responded, called), at)
        self._disputes(where)

    def _side(
        self, query: Any, where: list[ColumnElement[bool]]
    ) -> tuple[np.ndarray, list[Any]] | None:
        """Run a side path's query (part id first); return its rows of counted parts and
        their indexes among the parts, or None if there are none."""
        rows = self._rows(query.where(*where))
        if not rows or not self.part_ids.size:
            return None
        order = self.part_order
        ids = _int_column(rows, 0)
        place = np.searchsorted(self.part_ids, ids, sorter=order).clip(max=len(order) - 1)
        found = self.part_ids[order[place]] == ids
        kept = [r for r, ok in zip(rows, found, strict=True) if ok]
        if not kept:
            return None
        return order[place[found]], kept

    def _disputes(self, where: list[ColumnElement[bool]]) -> None:
        """Each dispute a row's parts were party to, and how its ruling went for the party.

        Responsible: the ruling named as lead the party's department or one of its units (or
        the department the unit belongs to): the same agency.
        """
        p, d, a = DisputeParty, Dispute, Assignment
        lead, party = aliased(Department), aliased(Department)
        query = (
            select(
                col(p.assignment_id),
                col(p.dispute_id),
                col(d.status),
                func.coalesce(col(party.parent_id), col(party.id)),
                func.coalesce(col(lead.parent_id), col(lead.id)),
            )
            .join(a, col(a.id) == col(p.assignment_id))
            .join(d, col(d.id) == col(p.dispute_id))
            .join(party, col(party.id) == col(p.department_id))
            .outerjoin(lead, col(lead.id) == col(d.lead_department_id))
        )
        found = self._side(query, where)
        if found is None:
            return
        at, rows = found
        codes = []
        for _, dispute_id, status, party_agency, lead_agency in rows:
            ruled = status == DisputeStatus.RULED
            responsible = ruled and lead_agency is not None and lead_agency == party_agency
            codes.append(dispute_id * 4 + int(responsible) + 2 * int(ruled))
        self.keep("disputes", np.ones(len(rows), dtype=bool), np.asarray(codes, np.int64), at)

    # -- what was reported --

    def reported(self) -> None:
        """Count the events reported in the span (by received time), merged and invalid not."""
        e = Event
        query = select(col(e.township_code), col(e.matter_code), col(e.platform_code)).where(
            col(e.received_at) >= self.start,
            col(e.received_at) < self.end,
            col(e.status).not_in(NOT_VOLUME),
        )
        if self.scope.township_code is not None:
            query = query.where(col(e.township_code) == self.scope.township_code)
        rows = self._rows(query)
        if not rows:
            return
        ones = np.ones(1, np.int64)
        for j, kind in enumerate(EVENT_KINDS):
            if kind in self.kinds:
                codes = self._code(kind, (r[j] for r in rows))
                self.count_pieces[kind].append((_COUNT_AT["reported"], codes, ones))
        if WHOLE in self.kinds:
            self.count_pieces[WHOLE].append(
                (_COUNT_AT["reported"], np.zeros(len(rows), np.int64), ones)
            )

    # -- the result --

    def facts(self) -> Facts:
        """Return the facts: one KindFacts per kind, rows with parts or reported events."""
        found: Facts = {}
        for kind in self.kinds:
            index = self.index[kind]
            n = len(index)
            counts = np.zeros((n, len(COUNTS)), dtype=np.int64)
            for i, codes, how_many in self.count_pieces[kind]:
                np.add.at(counts[:, i], codes, how_many if how_many.size > 1 else 1)
            live = (counts[:, _COUNT_AT["parts"]] > 0) | (counts[:, _COUNT_AT["reported"]] > 0)
            keys_by_code = [None] * n  # type: list[Any]
            for key, code in index.items():
                keys_by_code[code] = key
            facts = KindFacts()
            renumber = np.full(n, -1, dtype=np.int64)
            kept_codes = np.flatnonzero(live)
            renumber[kept_codes] = facts.codes(keys_by_code[c] for c in kept_codes)
            if kept_codes.size:
                facts.count_pieces.append((renumber[kept_codes], counts[kept_codes]))
            for i, codes, values in self.value_pieces[kind]:
                if not codes.size:
                    continue
                if VALUES[i] in ("events_shared", "rated_shared", "disputes"):
                    # Once per span and row: fewer values to keep and merge.
                    pairs = np.unique(np.stack([codes, values]), axis=1)
                    codes, values = pairs[0], pairs[1]
                facts.value_pieces[i].append((values, renumber[codes]))
            found[kind] = facts
        return found


def distinct(values: np.ndarray) -> np.ndarray:
    """Return the distinct values, sorted (a sort and a comparison: faster than np.unique's
    hashing on the large integer arrays here)."""
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _seconds(end: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Whole seconds from start to end, both truncated to the second (µs in, seconds out)."""
    return end // MICROS - start // MICROS
