"""The assessment's facts: what the parts of some days add up to, per row of every dimension.

Counts add across days. What does not add (distinct events, rated events, disputes, and the
durations whose median and P90 are asked) is kept as the values themselves, so that any run
of days can be merged and still give the exact figure of docs/METRICS.md: distinct ids are
counted once over the merged values, percentiles are taken over the merged durations.
Deadlines of parts still open are kept too, so a day's facts stay right as time passes: a
part whose signing deadline passes unanswered becomes due for signing without being written.

One builder (`collect`) reads the parts of a span of time and their side paths, in a handful
of queries, on either database; the daily roll-ups (reports/rollup.py) store its output per
day, and spans no roll-up covers (today, a changed day, a reader's own scope) are built live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from dispatch.core.clock import as_utc
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
from dispatch.reports.scope import ReportScope

A = AssignmentStatus
TOTAL = "__total__"
HELD = (A.PENDING, A.SIGNED, A.FED_BACK)
OPEN = (A.PENDING, A.SIGNED)
NOT_VOLUME = (EventStatus.MERGED, EventStatus.INVALID)
RATINGS = (1, 2, 3, 4, 5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class Dimension(StrEnum):
    """What the rows are: departments (units with them), units, townships, matters, platforms."""

    DEPARTMENT = "department"
    UNIT = "unit"
    TOWNSHIP = "township"
    MATTER = "matter"
    PLATFORM = "platform"


# Dimensions whose rows are places or kinds of events: they also count what was reported.
EVENT_DIMENSIONS = (Dimension.TOWNSHIP, Dimension.MATTER, Dimension.PLATFORM)
# The county's (the scope's) one row, kept beside the dimensions: distinct ids and durations
# of the whole are not the sum of the rows'.
WHOLE = "total"
KINDS: tuple[str, ...] = (*(d.value for d in Dimension), WHOLE)

# The counts that add across days, in the order the roll-ups store them.
COUNTS: tuple[str, ...] = (
    "parts",
    "events_alone",  # distinct events whose parts of the row are all in the span
    "answered_with_deadline",  # due for signing whatever the time: answered, with a deadline
    "signed_on_time",
    "fed_back_with_deadline",  # due for completion whatever the time: fed back, with one
    "completed_on_time",
    "completed",
    "returned",
    "fed_back_once",
    "reworked",
    *(f"rated_alone_{r}" for r in RATINGS),  # rated events of the row, all in the span
    "notices_normal",
    "notices_yellow",
    "notices_red",
    "extensions_asked",
    "extensions_granted",
    "escalations",
    "escalations_answered_on_time",
    "reported",
)
# The values that do not add, each kept as an int64 array (ids, codes, seconds, microseconds).
VALUES: tuple[str, ...] = (
    "events_shared",  # id of an event with parts of the row outside the span too
    "rated_shared",  # such an event's id × 8 + its rating, if a part of the row fed back
    "sign_seconds",
    "feedback_seconds",
    "escalation_seconds",
    "disputes",  # dispute id × 4 + 1 if ruled responsible + 2 if ruled
    "open_sign_by",  # signing deadline (µs since 1970) of a part not answered yet
    "open_handle_by",  # handling deadline (µs) of a part pending or signed
)
_COUNT_AT = {name: i for i, name in enumerate(COUNTS)}
_VALUE_AT = {name: i for i, name in enumerate(VALUES)}
_NO_VALUES = np.empty(0, dtype=np.int64)
# The indexes a part's own measures bump or keep (one lookup per report, not per part).
_PARTS, _ANSWERED_WITH_DEADLINE, _SIGNED_ON_TIME = (
    _COUNT_AT[n] for n in ("parts", "answered_with_deadline", "signed_on_time")
)
_FED_BACK_WITH_DEADLINE, _COMPLETED_ON_TIME, _COMPLETED = (
    _COUNT_AT[n] for n in ("fed_back_with_deadline", "completed_on_time", "completed")
)
_RETURNED, _FED_BACK_ONCE, _REWORKED = (
    _COUNT_AT[n] for n in ("returned", "fed_back_once", "reworked")
)
_OPEN_SIGN_BY, _OPEN_HANDLE_BY, _FEEDBACK_SECONDS, _SIGN_SECONDS = (
    _VALUE_AT[n] for n in ("open_sign_by", "open_handle_by", "feedback_seconds", "sign_seconds")
)


@dataclass(slots=True)
class RowFacts:
    """One row's facts over some days: its counts and its kept values, every piece merged."""

    counts: np.ndarray
    kept: dict[str, np.ndarray]

    def count(self, name: str) -> int:
        """Return one count."""
        return int(self.counts[_COUNT_AT[name]])

    def values(self, name: str) -> np.ndarray:
        """Return one kept value's array."""
        return self.kept.get(name, _NO_VALUES)


@dataclass(slots=True)
class KindFacts:
    """The facts of one dimension's rows (or the whole's one row) over some days.

    Kept as pieces, each with the row codes (indexes into `keys`) of its values, so that a
    year of days merges with array operations, not a loop over every row of every day.
    """

    keys: list[str | None] = field(default_factory=list)
    count_pieces: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    value_pieces: list[list[tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=lambda: [[] for _ in VALUES]
    )
    _index: dict[str | None, int] = field(default_factory=dict)

    def codes(self, keys: Iterable[str | None]) -> np.ndarray:
        """Return the codes of these keys, adding the keys not seen yet."""
        found = []
        for key in keys:
            if key not in self._index:
                self._index[key] = len(self.keys)
                self.keys.append(key)
            found.append(self._index[key])
        return np.asarray(found, dtype=np.int64)

    def absorb(self, other: KindFacts) -> None:
        """Add another run of days' facts of the same kind (its arrays are taken over)."""
        mapping = self.codes(other.keys)
        for codes, counts in other.count_pieces:
            self.count_pieces.append((mapping[codes], counts))
        for mine, theirs in zip(self.value_pieces, other.value_pieces, strict=True):
            mine.extend((values, mapping[codes]) for values, codes in theirs)

    def counts(self) -> np.ndarray:
        """Return every row's counts summed: one line per key."""
        total = np.zeros((len(self.keys), len(COUNTS)), dtype=np.int64)
        for codes, counts in self.count_pieces:
            np.add.at(total, codes, counts)
        return total

    def grouped(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return one kept value of every row, grouped by row, and where each row's begin."""
        pieces = self.value_pieces[_VALUE_AT[name]]
        if not pieces:
            return _NO_VALUES, np.zeros(len(self.keys) + 1, dtype=np.int64)
        values = np.concatenate([v for v, _ in pieces])
        codes = np.concatenate([c for _, c in pieces])
        order = np.argsort(codes, kind="stable")
        bounds = np.zeros(len(self.keys) + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes, minlength=len(self.keys)), out=bounds[1:])
        return values[order], bounds

    def rows(self) -> dict[str | None, RowFacts]:
        """Return each row's facts."""
        counts = self.counts()
        kept = {name: self.grouped(name) for name in VALUES}
        return {
            key: RowFacts(
                counts[i],
                {
                    name: values[bounds[i] : bounds[i + 1]]
                    for name, (values, bounds) in kept.items()
                },
            )
            for i, key in enumerate(self.keys)
        }


# Per kind (a dimension or the whole): its rows' facts.
Facts = dict[str, KindFacts]


def empty_facts() -> Facts:
    """Return facts of no parts."""
    return {kind: KindFacts() for kind in KINDS}


def merge(into: Facts, other: Facts) -> Facts:
    """Add other's facts to into's, kind by kind (the arrays of `other` are taken over)."""
    for kind, found in other.items():
        into.setdefault(kind, KindFacts()).absorb(found)
    return into


# ---- Building the facts of a span from the parts ------------------------------------------


class _Builder:
    """Tallies in plain lists while the parts are read; `facts()` turns them into arrays."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = tuple(kinds)
        self.counts: dict[tuple[str, str | None], list[int]] = {}
        self.values: dict[tuple[str, str | None], list[list[int]]] = {}
        self.alone: dict[tuple[str, str | None], set[int]] = {}
        self.rated_alone: dict[tuple[str, str | None], set[tuple[int, int]]] = {}

    def _row(self, kind: str, key: str | None) -> tuple[list[int], list[list[int]]]:
        at = (kind, key)
        if at not in self.counts:
            self.counts[at] = [0] * len(COUNTS)
            self.values[at] = [[] for _ in VALUES]
            self.alone[at], self.rated_alone[at] = set(), set()
        return self.counts[at], self.values[at]

    def add(
        self, keys: Mapping[str, str | None], bumps: list[int], kept: list[tuple[int, int]]
    ) -> None:
        """Add one part to each of its rows: the counts at `bumps` by one, the kept values."""
        for kind in self.kinds:
            if kind not in keys:
                continue
            counts, values = self._row(kind, keys[kind])
            for i in bumps:
                counts[i] += 1
            for i, value in kept:
                values[i].append(value)

    def count(self, keys: Mapping[str, str | None], name: str, n: int = 1) -> None:
        i = _COUNT_AT[name]
        for kind in self.kinds:
            if kind in keys:
                self._row(kind, keys[kind])[0][i] += n

    def keep(self, keys: Mapping[str, str | None], name: str, value: int) -> None:
        i = _VALUE_AT[name]
        for kind in self.kinds:
            if kind in keys:
                self._row(kind, keys[kind])[1][i].append(value)

    def event(
        self,
        keys: Mapping[str, str | None],
        event_id: int,
        rating: int | None,
        outside: set[tuple[str, str | None, int]],
    ) -> None:
        """Count a part's event (and its rating, if rated): distinct within the span where
        the event's parts of the row are all in it, else kept by id to be counted once."""
        for kind in self.kinds:
            if kind not in keys:
                continue
            key = keys[kind]
            values = self._row(kind, key)[1]
            if (kind, key, event_id) in outside:
                values[_VALUE_AT["events_shared"]].append(event_id)
                if rating is not None:
                    values[_VALUE_AT["rated_shared"]].append(event_id * 8 + rating)
            else:
                self.alone[kind, key].add(event_id)
                if rating is not None:
                    self.rated_alone[kind, key].add((event_id, rating))

    def facts(self) -> Facts:
        found = {kind: KindFacts() for kind in self.kinds}
        by_kind: dict[str, list[tuple[str | None, list[int], list[list[int]]]]] = {}
        for (kind, key), counts in self.counts.items():
            counts[_COUNT_AT["events_alone"]] = len(self.alone[kind, key])
            for _, r in self.rated_alone[kind, key]:
                counts[_COUNT_AT[f"rated_alone_{r}"]] += 1
            by_kind.setdefault(kind, []).append((key, counts, self.values[kind, key]))
        for kind, rows in by_kind.items():
            facts = found[kind]
            codes = facts.codes(key for key, _, _ in rows)
            facts.count_pieces.append((codes, np.asarray([c for _, c, _ in rows], np.int64)))
            for i, name in enumerate(VALUES):
                kept = [values[i] for _, _, values in rows]
                lengths = [len(v) for v in kept]
                if not sum(lengths):
                    continue
                flat = np.fromiter((x for v in kept for x in v), dtype=np.int64, count=sum(lengths))
                if name in ("events_shared", "rated_shared", "disputes"):
                    # Once per span and row: fewer values to keep and merge.
                    pairs = np.unique(np.stack([np.repeat(codes, lengths), flat]), axis=1)
                    facts.value_pieces[i].append((pairs[1], pairs[0]))
                else:
                    facts.value_pieces[i].append((flat, np.repeat(codes, lengths)))
        return found


def _micros(moment: datetime) -> int:
    return (as_utc(moment) - EPOCH) // MICROSECOND


def _whole_seconds(end: datetime, start: datetime) -> int:
    """Whole seconds from start to end, both truncated to the second (as the SQL did)."""
    return int(as_utc(end).timestamp() // 1) - int(as_utc(start).timestamp() // 1)


def _part_filter(start: datetime, end: datetime, scope: ReportScope) -> list[ColumnElement[bool]]:
    a = Assignment
    where = [col(a.created_at) >= start, col(a.created_at) < end]
    if scope.department_ids is not None:
        where.append(col(a.department_id).in_(sorted(scope.department_ids)))
    return where


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
    build = _Builder(kinds)
    parts = _read_parts(session, start, end, scope, build)
    _read_notices(session, start, end, scope, parts, build)
    _read_extensions(session, start, end, scope, parts, build)
    _read_escalations(session, start, end, scope, parts, build)
    _read_disputes(session, start, end, scope, parts, build)
    if scope.department_ids is None:
        _read_reported(session, start, end, scope, build)
    return build.facts()


def _part_keys(
    unit_id: int,
    department_key: int,
    township: str | None,
    matter: str | None,
    platform: str | None,
) -> dict[str, str | None]:
    return {
        Dimension.DEPARTMENT.value: str(department_key),
        Dimension.UNIT.value: str(unit_id),
        Dimension.TOWNSHIP.value: township,
        Dimension.MATTER.value: matter,
        Dimension.PLATFORM.value: platform,
        WHOLE: TOTAL,
    }


def _counted() -> ColumnElement[bool]:
    """A part counts unless it was cancelled before it was ever returned."""
    a = Assignment
    return not_(and_(col(a.status) == A.CANCELLED, col(a.returns) == 0))


def _key_columns() -> list[Any]:
    a, e, d = Assignment, Event, Department
    return [
        col(a.department_id),
        func.coalesce(col(d.parent_id), col(d.id)),
        col(e.township_code),
        col(e.matter_code),
        col(e.platform_code),
    ]


def _outside(
    session: Session, start: datetime, end: datetime, scope: ReportScope
) -> set[tuple[str, str | None, int]]:
    """Return (kind, key, event) for every counted part, outside the span, of an event that
    has parts in it: those events are kept by id, to be counted once over merged spans."""
    a, e, d = Assignment, Event, Department
    in_span = select(col(a.event_id)).where(*_part_filter(start, end, scope))
    query = (
        select(col(a.event_id), *_key_columns())
        .join(e, col(e.id) == col(a.event_id))
        .join(d, col(d.id) == col(a.department_id))
        .where(
            col(a.event_id).in_(in_span),
            or_(col(a.created_at) < start, col(a.created_at) >= end),
            _counted(),
        )
    )
    if scope.department_ids is not None:
        query = query.where(col(a.department_id).in_(sorted(scope.department_ids)))
    found: set[tuple[str, str | None, int]] = set()
    for event_id, *key_values in session.execute(query):
        for kind, key in _part_keys(*key_values).items():
            found.add((kind, key, event_id))
    return found


def _read_parts(
    session: Session, start: datetime, end: datetime, scope: ReportScope, build: _Builder
) -> dict[int, dict[str, str | None]]:
    """Tally every part's own measures; return each counted part's row keys, by part id."""
    a, e, d = Assignment, Event, Department
    query = (
        select(
            col(a.id),
            col(a.event_id),
            *_key_columns(),
            col(a.status),
            col(a.created_at),
            col(a.sign_by),
            col(a.answered_at),
            col(a.handle_by),
            col(a.fed_back_at),
            col(a.returns),
            col(a.reworks),
            col(e.rating),
        )
        .join(e, col(e.id) == col(a.event_id))
        .join(d, col(d.id) == col(a.department_id))
        .where(*_part_filter(start, end, scope), _counted())
    )
    if scope.township_code is not None:
        query = query.where(col(e.township_code) == scope.township_code)
    outside = _outside(session, start, end, scope)
    keys_of: dict[int, dict[str, str | None]] = {}
    for (
        part_id,
        event_id,
        unit_id,
        department_key,
        township,
        matter,
        platform,
        status,
        created,
        sign_by,
        answered,
        handle_by,
        fed_back_at,
        returns,
        reworks,
        rating,
    ) in session.execute(query):
        keys = _part_keys(unit_id, department_key, township, matter, platform)
        keys_of[part_id] = keys
        fed_back = status == A.FED_BACK
        bumps, kept = [_PARTS], []
        build.event(keys, event_id, rating if fed_back and rating in RATINGS else None, outside)
        if sign_by is not None:
            if answered is not None:
                bumps.append(_ANSWERED_WITH_DEADLINE)
                if as_utc(answered) <= as_utc(sign_by):
                    bumps.append(_SIGNED_ON_TIME)
            else:
                kept.append((_OPEN_SIGN_BY, _micros(sign_by)))
        if handle_by is not None and status in HELD:
            if fed_back:
                bumps.append(_FED_BACK_WITH_DEADLINE)
                if fed_back_at is not None and as_utc(fed_back_at) <= as_utc(handle_by):
                    bumps.append(_COMPLETED_ON_TIME)
            else:
                kept.append((_OPEN_HANDLE_BY, _micros(handle_by)))
        if fed_back:
            bumps.append(_COMPLETED)
            if fed_back_at is not None:
                kept.append((_FEEDBACK_SECONDS, _whole_seconds(fed_back_at, created)))
        if returns > 0:
            bumps.append(_RETURNED)
        if fed_back_at is not None:
            bumps.append(_FED_BACK_ONCE)
        if reworks > 0:
            bumps.append(_REWORKED)
        if answered is not None:
            kept.append((_SIGN_SECONDS, _whole_seconds(answered, created)))
        build.add(keys, bumps, kept)
    return keys_of


def _side(
    session: Session,
    query: Any,
    start: datetime,
    end: datetime,
    scope: ReportScope,
    on: Any,
) -> Any:
    """Rows of a side path joined to the parts of the span (by the given part id column)."""
    a = Assignment
    return session.execute(query.join(a, col(a.id) == on).where(*_part_filter(start, end, scope)))


def _read_notices(
    session: Session,
    start: datetime,
    end: datetime,
    scope: ReportScope,
    parts: Mapping[int, Mapping[str, str | None]],
    build: _Builder,
) -> None:
    n = SupervisionNotice
    query = select(col(n.assignment_id), col(n.level))
    for part_id, level in _side(session, query, start, end, scope, col(n.assignment_id)):
        if (keys := parts.get(part_id)) is not None:
            build.count(keys, f"notices_{level}")


def _read_extensions(
    session: Session,
    start: datetime,
    end: datetime,
    scope: ReportScope,
    parts: Mapping[int, Mapping[str, str | None]],
    build: _Builder,
) -> None:
    x = ExtensionRequest
    query = select(col(x.assignment_id), col(x.status))
    for part_id, status in _side(session, query, start, end, scope, col(x.assignment_id)):
        if (keys := parts.get(part_id)) is not None:
            build.count(keys, "extensions_asked")
            if status == ExtensionStatus.APPROVED:
                build.count(keys, "extensions_granted")


def _read_escalations(
    session: Session,
    start: datetime,
    end: datetime,
    scope: ReportScope,
    parts: Mapping[int, Mapping[str, str | None]],
    build: _Builder,
) -> None:
    """乡呼县应 count with the county part that answered them (its department, its place)."""
    e = Escalation
    query = select(
        col(e.response_assignment_id), col(e.called_at), col(e.responded_at), col(e.respond_by)
    )
    rows = _side(session, query, start, end, scope, col(e.response_assignment_id))
    for part_id, called, responded, respond_by in rows:
        if (keys := parts.get(part_id)) is None:
            continue
        build.count(keys, "escalations")
        if responded is None:
            continue
        build.keep(keys, "escalation_seconds", _whole_seconds(responded, called))
        if respond_by is not None and as_utc(responded) <= as_utc(respond_by):
            build.count(keys, "escalations_answered_on_time")


def _read_disputes(
    session: Session,
    start: datetime,
    end: datetime,
    scope: ReportScope,
    parts: Mapping[int, Mapping[str, str | None]],
    build: _Builder,
) -> None:
    """Each dispute a row's parts were party to, and how its ruling went for the party.

    Responsible: the ruling named as lead the party's department or one of its units (or the
    department the unit belongs to): the same agency.
    """
    p, d = DisputeParty, Dispute
    lead, party = aliased(Department), aliased(Department)
    query = (
        select(
            col(p.assignment_id),
            col(p.dispute_id),
            col(d.status),
            func.coalesce(col(party.parent_id), col(party.id)),
            func.coalesce(col(lead.parent_id), col(lead.id)),
        )
        .join(d, col(d.id) == col(p.dispute_id))
        .join(party, col(party.id) == col(p.department_id))
        .outerjoin(lead, col(lead.id) == col(d.lead_department_id))
    )
    rows = _side(session, query, start, end, scope, col(p.assignment_id))
    for part_id, dispute_id, status, party_agency, lead_agency in rows:
        if (keys := parts.get(part_id)) is None:
            continue
        ruled = status == DisputeStatus.RULED
        responsible = ruled and lead_agency is not None and lead_agency == party_agency
        build.keep(keys, "disputes", dispute_id * 4 + int(responsible) + 2 * int(ruled))


def _read_reported(
    session: Session, start: datetime, end: datetime, scope: ReportScope, build: _Builder
) -> None:
    """Count the events reported in the span (by received time), merged and invalid ones not."""
    e = Event
    query = select(col(e.township_code), col(e.matter_code), col(e.platform_code)).where(
        col(e.received_at) >= start,
        col(e.received_at) < end,
        col(e.status).not_in(NOT_VOLUME),
    )
    if scope.township_code is not None:
        query = query.where(col(e.township_code) == scope.township_code)
    for township, matter, platform in session.execute(query):
        keys = {
            Dimension.TOWNSHIP.value: township,
            Dimension.MATTER.value: matter,
            Dimension.PLATFORM.value: platform,
            WHOLE: TOTAL,
        }
        build.count(keys, "reported")


# ---- From a row's facts to its measures ----------------------------------------------------


def measures(row: RowFacts | None, as_of: datetime, *, reported: bool) -> dict[str, float | None]:
    """Return a row's counts, rates and durations as of a moment (docs/METRICS.md).

    `reported`: whether the row counts reported events (a place or kind of event, read by the
    whole county or a township); else that measure has no value.
    """
    row = row or RowFacts(np.zeros(len(COUNTS), dtype=np.int64), {})
    now = _micros(as_of)
    v: dict[str, float | None] = {}
    for name in COUNTS:
        if not name.startswith(("rated_alone_", "events_alone")):
            v[name] = row.count(name)
    v["due_for_signing"] = row.count("answered_with_deadline") + int(
        np.count_nonzero(row.values("open_sign_by") <= now)
    )
    v["due_for_completion"] = row.count("fed_back_with_deadline") + int(
        np.count_nonzero(row.values("open_handle_by") <= now)
    )
    del v["answered_with_deadline"], v["fed_back_with_deadline"]
    v["events"] = row.count("events_alone") + int(np.unique(row.values("events_shared")).size)
    shared = np.unique(row.values("rated_shared")) % 8
    by_rating = {
        r: row.count(f"rated_alone_{r}") + int(np.count_nonzero(shared == r)) for r in RATINGS
    }
    v["rated"] = sum(by_rating.values())
    v["satisfied"] = by_rating[4] + by_rating[5]
    rating_sum = sum(r * n for r, n in by_rating.items())
    disputes = np.unique(row.values("disputes"))
    ids = disputes >> 2
    flags = _NO_VALUES
    if ids.size:
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        flags = np.bitwise_or.reduceat(disputes & 3, starts)
    v["disputes"] = int(flags.size)
    responsible = int(np.count_nonzero(flags & 1))
    v["disputes_ruled_responsible"] = responsible
    v["disputes_ruled_not_responsible"] = int(np.count_nonzero(flags & 2)) - responsible
    for name, seconds, p90 in (
        ("sign_minutes", "sign_seconds", True),
        ("feedback_minutes", "feedback_seconds", True),
        ("escalation_response", "escalation_seconds", False),
    ):
        spread = _spread(row.values(seconds), (0.5, 0.9) if p90 else (0.5,))
        v[f"{name}_median"] = _minutes(spread[0])
        if p90:
            v[f"{name}_p90"] = _minutes(spread[1])
    if not reported:
        v["reported"] = None
    v["on_time_sign_rate"] = ratio(v["signed_on_time"], v["due_for_signing"])
    v["on_time_completion_rate"] = ratio(v["completed_on_time"], v["due_for_completion"])
    v["completion_rate"] = ratio(v["completed"], v["parts"])
    v["return_rate"] = ratio(v["returned"], v["parts"])
    v["rework_rate"] = ratio(v["reworked"], v["fed_back_once"])
    v["satisfaction_rate"] = ratio(v["satisfied"], v["rated"])
    v["mean_rating"] = round(rating_sum / v["rated"], 2) if v["rated"] else None
    return v


def _spread(values: np.ndarray, fractions: tuple[float, ...]) -> list[float | None]:
    """Return the percentiles of unsorted values by linear interpolation (percentile_cont's),
    selecting the few ranks they need (np.partition) instead of sorting them all."""
    if not values.size:
        return [None for _ in fractions]
    last = values.size - 1
    ranks = sorted({r for f in fractions for r in (int(f * last), min(int(f * last) + 1, last))})
    chosen = np.partition(values, ranks)
    found: list[float | None] = []
    for fraction in fractions:
        low = int(fraction * last)
        high = min(low + 1, last)
        ordered = {low: chosen[low], high: chosen[high]}
        found.append(float(ordered[low] + (ordered[high] - ordered[low]) * (fraction * last - low)))
    return found


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Return numerator ÷ denominator, or None when there is nothing to count."""
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 4)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 60, 1)
