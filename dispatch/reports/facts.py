"""The assessment's facts: what the parts of some days add up to, per row of every dimension.

Counts add across days. What does not add is kept as values, so that any run of days can be
merged and still give the exact figure of docs/METRICS.md: the durations whose median and
P90 are asked (taken over the merged values), disputes (counted once by id), and the events
(and rated events) of a row that have parts of the row outside the span, by id; an event
whose parts of the row all fall in the span is simply counted there, once.
Deadlines of parts still open are kept too, so a day's facts stay right as time passes: a
part whose signing deadline passes unanswered becomes due for signing without being written.

One builder (reports/collect.py) makes the facts of a span of time from its parts; the daily
roll-ups (reports/rollup.py) store its output per day, and spans no roll-up covers (today, a
changed day, a reader's own scope) are built live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from dispatch.core.clock import as_utc

TOTAL = "__total__"
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


# ---- From a row's facts to its measures ----------------------------------------------------


def measures(row: RowFacts | None, as_of: datetime, *, reported: bool) -> dict[str, float | None]:
    """Return a row's counts, rates and durations as of a moment (docs/METRICS.md).

    `reported`: whether the row counts reported events (a place or kind of event, read by the
    whole county or a township); else that measure has no value.
    """
    row = row or RowFacts(np.zeros(len(COUNTS), dtype=np.int64), {})
    now = (as_utc(as_of) - EPOCH) // MICROSECOND
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
