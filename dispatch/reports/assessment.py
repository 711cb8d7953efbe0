"""The assessment (考核): every measure of docs/METRICS.md for a period, by one dimension.

Set-based: one GROUP BY over the period's parts (by dispatch time, on its index) for the part
counts, one for the rated events, one per side path (notices, extensions, escalations,
disputes), and the durations' median and P90 (percentile_cont on PostgreSQL; the same linear
interpolation in Python on SQLite). Rates are computed from the counts here, once, so the
API, the pages and the workbook agree and every rate shows what it is made of.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlmodel import Session, col

from dispatch.core.clock import utcnow
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
from dispatch.reference.county_rules import county_settings
from dispatch.reference.models import Department, JurisdictionRow, Matter, Platform
from dispatch.reports.grouping import is_postgres, percentile
from dispatch.reports.measures import MEASURES, Unit, composite_score
from dispatch.reports.periods import Period
from dispatch.reports.scope import ReportScope

A = AssignmentStatus
TOTAL = "__total__"


class Dimension(StrEnum):
    """What the rows are: departments (units with them), units, townships, matters, platforms."""

    DEPARTMENT = "department"
    UNIT = "unit"
    TOWNSHIP = "township"
    MATTER = "matter"
    PLATFORM = "platform"


DIMENSION_LABELS: dict[Dimension, str] = {
    Dimension.DEPARTMENT: "部门",
    Dimension.UNIT: "单位（含派驻机构）",
    Dimension.TOWNSHIP: "乡镇",
    Dimension.MATTER: "事项",
    Dimension.PLATFORM: "平台",
}
# Dimensions whose rows are places or kinds of events: they also count what was reported.
EVENT_DIMENSIONS = (Dimension.TOWNSHIP, Dimension.MATTER, Dimension.PLATFORM)
HELD = (A.PENDING, A.SIGNED, A.FED_BACK)
RATINGS = (1, 2, 3, 4, 5)  # the part is still the department's work
NOT_VOLUME = (EventStatus.MERGED, EventStatus.INVALID)


@dataclass(slots=True)
class Row:
    """One row of the assessment: its key, its name and every measure's value."""

    key: str | None
    name: str
    values: dict[str, float | None] = field(default_factory=dict)
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The assessment of a period by one dimension, with the county's (the scope's) total."""

    by: Dimension
    period: Period
    as_of: datetime
    rows: list[Row]
    total: Row
    weights: Mapping[str, float]


def assess(
    session: Session,
    scope: ReportScope,
    period: Period,
    by: Dimension,
    *,
    county_code: str | None = None,
    now: datetime | None = None,
) -> Assessment:
    """Return every measure for the period, one row per key of the dimension, and the total."""
    as_of = now or utcnow()
    _tune(session)
    weights = dict(county_settings(session, county_code).ranking_weights)
    grouped = _measure(session, scope, period, _key(by), by, as_of)
    totals = _measure(session, scope, period, literal(TOTAL), by, as_of)
    names = _names(session, by, [k for k in grouped if k is not None])
    rows = [
        Row(key, names.get(key, _unnamed(by)) if key else _unnamed(by), v)
        for key, v in grouped.items()
    ]
    total_values = totals.get(TOTAL) or _finish({}, by)
    total = Row(None, "合计", total_values)
    if by is Dimension.TOWNSHIP:
        _per_10k(session, rows, total)
    for row in [*rows, total]:
        row.values["score"] = composite_score(row.values, weights)
    _rank(rows)
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.name))
    return Assessment(by, period, as_of, rows, total, weights)


def measure_by(
    session: Session,
    scope: ReportScope,
    period: Period,
    key: ColumnElement[Any],
    as_of: datetime,
) -> dict[str | None, dict[str, float | None]]:
    """Return every part measure of the period grouped by any key of a part (the trend's weeks).

    The measures are the department dimension's (no reported events, no population).
    """
    return _measure(session, scope, period, key, Dimension.DEPARTMENT, as_of)


def no_parts() -> dict[str, float | None]:
    """Return the values of a key without parts: every count 0, every rate and time none."""
    return _finish({}, Dimension.DEPARTMENT)


# ---- The population: the period's parts, as the scope sees them ---------------------------


def _key(by: Dimension) -> Any:
    if by is Dimension.DEPARTMENT:
        return func.coalesce(col(Department.parent_id), col(Department.id))
    if by is Dimension.UNIT:
        return col(Assignment.department_id)
    if by is Dimension.TOWNSHIP:
        return col(Event.township_code)
    if by is Dimension.MATTER:
        return col(Event.matter_code)
    return col(Event.platform_code)


def _parts(scope: ReportScope, period: Period, key: ColumnElement[Any]) -> Select[Any]:
    """Select the period's parts with their key: dispatched in the period, and not cancelled
    before they were ever returned (a merge or a closed part is nobody's work)."""
    query = (
        select(key.label("key"), col(Assignment.id).label("part_id"))
        .join(Event, col(Event.id) == col(Assignment.event_id))
        .join(Department, col(Department.id) == col(Assignment.department_id))
        .where(
            col(Assignment.created_at) >= period.start,
            col(Assignment.created_at) < period.end,
            not_(and_(col(Assignment.status) == A.CANCELLED, col(Assignment.returns) == 0)),
        )
    )
    if scope.department_ids is not None:
        query = query.where(col(Assignment.department_id).in_(sorted(scope.department_ids)))
    if scope.township_code is not None:
        query = query.where(col(Event.township_code) == scope.township_code)
    return query


def _measure(
    session: Session,
    scope: ReportScope,
    period: Period,
    key: ColumnElement[Any],
    by: Dimension,
    as_of: datetime,
) -> dict[str | None, dict[str, float | None]]:
    counts: dict[str | None, dict[str, float]] = defaultdict(dict)
    for part in (
        _part_counts,
        _notice_counts,
        _extension_counts,
        _escalation_counts,
        _dispute_counts,
    ):
        for row_key, values in part(session, scope, period, key, as_of).items():
            counts[_text(row_key)].update(values)
    if by in EVENT_DIMENSIONS and scope.department_ids is None:
        for row_key, reported in _reported(session, scope, period, key).items():
            counts[_text(row_key)]["reported"] = reported
    durations = _durations(session, scope, period, key)
    return {k: _finish({**v, **durations.get(k, {})}, by) for k, v in counts.items()}


def _fetch(session: Session, query: Any) -> list[Any]:
    """Run a Core select and return its rows (sqlmodel's exec types only ORM selects well)."""
    return list(session.exec(query))


def _text(key: object) -> str | None:
    return None if key is None else str(key)


def _when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _part_counts(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any], as_of: datetime
) -> dict[object, dict[str, float]]:
    """Count every part measure in one scan of the period's parts; on PostgreSQL the durations'
    median and P90 too (percentile_cont skips the NULLs of the parts a duration excludes)."""
    a = Assignment
    status, sign_by, handle_by = col(a.status), col(a.sign_by), col(a.handle_by)
    answered, fed_back_at = col(a.answered_at), col(a.fed_back_at)
    held, fed_back = status.in_(HELD), status == A.FED_BACK
    counted = [
        ("parts", func.count(col(a.id))),
        ("events", func.count(func.distinct(col(a.event_id)))),
        (
            "due_for_signing",
            _when(and_(sign_by.is_not(None), or_(answered.is_not(None), sign_by <= as_of))),
        ),
        ("signed_on_time", _when(and_(sign_by.is_not(None), answered <= sign_by))),
        (
            "due_for_completion",
            _when(and_(held, handle_by.is_not(None), or_(fed_back, handle_by <= as_of))),
        ),
        (
            "completed_on_time",
            _when(and_(fed_back, handle_by.is_not(None), fed_back_at <= handle_by)),
        ),
        ("completed", _when(fed_back)),
        ("returned", _when(col(a.returns) > 0)),
        ("fed_back_once", _when(fed_back_at.is_not(None))),
        ("reworked", _when(col(a.reworks) > 0)),
        # Rated events once per row however many of its parts fed back: distinct events by rating.
        *(
            (
                f"rated_{r}",
                func.count(
                    func.distinct(case((and_(fed_back, col(Event.rating) == r), col(a.event_id))))
                ),
            )
            for r in RATINGS
        ),
    ]
    if is_postgres(session):
        created = col(a.created_at)
        sign = case((answered.is_not(None), _seconds(session, answered, created)))
        done = case((fed_back, _seconds(session, fed_back_at, created)))
        for name, seconds in (("sign_minutes", sign), ("feedback_minutes", done)):
            counted.append((f"{name}_median", func.percentile_cont(0.5).within_group(seconds)))
            counted.append((f"{name}_p90", func.percentile_cont(0.9).within_group(seconds)))
    query = (
        _parts(scope, period, key)
        .with_only_columns(key.label("key"), *(c for _, c in counted))
        .group_by(key)
    )
    found: dict[object, dict[str, float]] = {}
    for row in _fetch(session, query):
        values = dict(zip((n for n, _ in counted), row[1:], strict=True))
        out: dict[str, float] = {}
        for name, value in values.items():
            if name.endswith(("_median", "_p90")):
                out[name] = _minutes(value)  # type: ignore[assignment]
            elif not name.startswith("rated_"):
                out[name] = int(value or 0)
        rated = {r: int(values[f"rated_{r}"] or 0) for r in RATINGS}
        out["rated"] = sum(rated.values())
        out["satisfied"] = rated[4] + rated[5]
        out["rating_sum"] = sum(r * n for r, n in rated.items())
        found[row[0]] = out
    return found


def _tune(session: Session) -> None:
    """Give this transaction's report queries room to sort in memory and no JIT warm-up.

    The defaults (4 MB per sort, JIT for costly plans) send a year's parts to disk in
    external merges and spend ~0.1 s compiling; SET LOCAL ends with the transaction.
    """
    if is_postgres(session):
        session.exec(text("SET LOCAL work_mem = '64MB'"))  # type: ignore[call-overload]
        session.exec(text("SET LOCAL jit = off"))  # type: ignore[call-overload]


def _notice_counts(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any], as_of: datetime
) -> dict[object, dict[str, float]]:
    parts = _parts(scope, period, key).subquery()
    n = SupervisionNotice
    query = (
        select(parts.c.key, col(n.level), func.count())
        .select_from(n)
        .join(parts, parts.c.part_id == col(n.assignment_id))
        .group_by(parts.c.key, col(n.level))
    )
    found: dict[object, dict[str, float]] = defaultdict(dict)
    for row_key, level, count in _fetch(session, query):
        found[row_key][f"notices_{level}"] = int(count)
    return found


def _extension_counts(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any], as_of: datetime
) -> dict[object, dict[str, float]]:
    parts = _parts(scope, period, key).subquery()
    x = ExtensionRequest
    query = (
        select(parts.c.key, func.count(), _when(col(x.status) == ExtensionStatus.APPROVED))
        .select_from(x)
        .join(parts, parts.c.part_id == col(x.assignment_id))
        .group_by(parts.c.key)
    )
    return {
        r[0]: {"extensions_asked": int(r[1]), "extensions_granted": int(r[2] or 0)}
        for r in _fetch(session, query)
    }


def _escalation_counts(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any], as_of: datetime
) -> dict[object, dict[str, float]]:
    """Count 乡呼县应 by the county part that answered it (its department, its event's place)."""
    parts = _parts(scope, period, key).subquery()
    e = Escalation
    on_time = and_(col(e.responded_at).is_not(None), col(e.responded_at) <= col(e.respond_by))
    query = (
        select(parts.c.key, func.count(), _when(on_time))
        .select_from(e)
        .join(parts, parts.c.part_id == col(e.response_assignment_id))
        .group_by(parts.c.key)
    )
    return {
        r[0]: {"escalations": int(r[1]), "escalations_answered_on_time": int(r[2] or 0)}
        for r in _fetch(session, query)
    }


def _dispute_counts(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any], as_of: datetime
) -> dict[object, dict[str, float]]:
    """Count the disputes each key's parts were party to, and how the ruled ones went for it.

    Responsible: the ruling named as lead the party's department or one of its units (or the
    department the unit belongs to): the same agency.
    """
    parts = _parts(scope, period, key).subquery()
    d, p = Dispute, DisputeParty
    lead, party = aliased(Department), aliased(Department)
    ruled = col(d.status) == DisputeStatus.RULED
    named = func.coalesce(col(lead.parent_id), col(lead.id)) == func.coalesce(
        col(party.parent_id), col(party.id)
    )
    pairs = (
        select(
            parts.c.key.label("key"),
            col(d.id).label("dispute_id"),
            func.max(case((and_(ruled, named), 1), else_=0)).label("responsible"),
            func.max(case((ruled, 1), else_=0)).label("ruled"),
        )
        .select_from(p)
        .join(parts, parts.c.part_id == col(p.assignment_id))
        .join(d, col(d.id) == col(p.dispute_id))
        .join(party, col(party.id) == col(p.department_id))
        .outerjoin(lead, col(lead.id) == col(d.lead_department_id))
        .group_by(parts.c.key, col(d.id))
        .subquery()
    )
    query = select(
        pairs.c.key,
        func.count(),
        func.sum(pairs.c.responsible),
        func.sum(pairs.c.ruled - pairs.c.responsible),
    ).group_by(pairs.c.key)
    return {
        r[0]: {
            "disputes": int(r[1]),
            "disputes_ruled_responsible": int(r[2] or 0),
            "disputes_ruled_not_responsible": int(r[3] or 0),
        }
        for r in _fetch(session, query)
    }


def _reported(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any]
) -> dict[object, int]:
    """Count the events reported in the period (by received time), merged and invalid ones not."""
    query = (
        select(key.label("key"), func.count(col(Event.id)))
        .where(
            col(Event.received_at) >= period.start,
            col(Event.received_at) < period.end,
            col(Event.status).not_in(NOT_VOLUME),
        )
        .group_by(key)
    )
    if scope.township_code is not None:
        query = query.where(col(Event.township_code) == scope.township_code)
    return {r[0]: int(r[1]) for r in _fetch(session, query)}


# ---- Durations: median and P90 of whole seconds ------------------------------------------


def _seconds(session: Session, end: Any, start: Any) -> ColumnElement[Any]:
    """Whole seconds from start to end (both truncated to the second), in the database."""
    if is_postgres(session):
        return func.extract("epoch", func.date_trunc("second", end)) - func.extract(
            "epoch", func.date_trunc("second", start)
        )
    return cast(func.strftime("%s", end), Integer) - cast(func.strftime("%s", start), Integer)


def _durations(
    session: Session, scope: ReportScope, period: Period, key: ColumnElement[Any]
) -> dict[str | None, dict[str, float | None]]:
    """The durations' median and P90: the escalations' always, the parts' on SQLite only (on
    PostgreSQL _part_counts has them from its one scan)."""
    a, e = Assignment, Escalation
    created = col(a.created_at)
    series: list[tuple[str, Select[Any]]] = [
        (
            "sign_minutes",
            _parts(scope, period, key)
            .with_only_columns(
                key.label("key"), _seconds(session, col(a.answered_at), created).label("s")
            )
            .where(col(a.answered_at).is_not(None)),
        ),
        (
            "feedback_minutes",
            _parts(scope, period, key)
            .with_only_columns(
                key.label("key"), _seconds(session, col(a.fed_back_at), created).label("s")
            )
            .where(col(a.status) == A.FED_BACK),
        ),
        (
            "escalation_response",
            _parts(scope, period, key)
            .with_only_columns(
                key.label("key"),
                _seconds(session, col(e.responded_at), col(e.called_at)).label("s"),
            )
            .join(e, col(e.response_assignment_id) == col(a.id))
            .where(col(e.responded_at).is_not(None)),
        ),
    ]
    if is_postgres(session):
        series = series[2:]
    found: dict[str | None, dict[str, float | None]] = defaultdict(dict)
    for name, query in series:
        for row_key, median, p90 in _percentiles(session, query):
            found[_text(row_key)][f"{name}_median"] = _minutes(median)
            if name != "escalation_response":
                found[_text(row_key)][f"{name}_p90"] = _minutes(p90)
    return found


def _percentiles(
    session: Session, query: Select[Any]
) -> Iterable[tuple[object, float | None, float | None]]:
    values = query.subquery()
    if is_postgres(session):
        yield from _fetch(
            session,
            select(
                values.c.key,
                func.percentile_cont(0.5).within_group(values.c.s),
                func.percentile_cont(0.9).within_group(values.c.s),
            ).group_by(values.c.key),
        )
        return
    by_key: dict[object, list[float]] = defaultdict(list)
    for row_key, seconds in _fetch(session, select(values.c.key, values.c.s)):
        by_key[row_key].append(float(seconds))
    for row_key, seconds in by_key.items():
        seconds.sort()
        yield row_key, percentile(seconds, 0.5), percentile(seconds, 0.9)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 60, 1)


# ---- Rates, names, the per-10,000 volume and the ranking ---------------------------------


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Return numerator ÷ denominator, or None when there is nothing to count."""
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 4)


# Every count measure but the two that are not counts of parts (reports and residents).
COUNTED = [
    m.key for m in MEASURES if m.unit is Unit.COUNT and m.key not in ("reported", "population")
]


def _finish(counts: Mapping[str, float | None], by: Dimension) -> dict[str, float | None]:
    """Fill every count (0 where nothing was found) and compute the rates from them."""
    v: dict[str, float | None] = {k: counts.get(k) or 0 for k in COUNTED}
    for key in (
        "sign_minutes_median",
        "sign_minutes_p90",
        "feedback_minutes_median",
        "feedback_minutes_p90",
        "escalation_response_median",
    ):
        v[key] = counts.get(key)
    if by in EVENT_DIMENSIONS:
        v["reported"] = counts.get("reported")
    v["on_time_sign_rate"] = ratio(v["signed_on_time"], v["due_for_signing"])
    v["on_time_completion_rate"] = ratio(v["completed_on_time"], v["due_for_completion"])
    v["completion_rate"] = ratio(v["completed"], v["parts"])
    v["return_rate"] = ratio(v["returned"], v["parts"])
    v["rework_rate"] = ratio(v["reworked"], v["fed_back_once"])
    v["satisfaction_rate"] = ratio(v["satisfied"], v["rated"])
    rated = v["rated"] or 0
    v["mean_rating"] = round(float(counts.get("rating_sum") or 0) / rated, 2) if rated else None
    return v


def _names(session: Session, by: Dimension, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    if by in (Dimension.DEPARTMENT, Dimension.UNIT):
        found = _fetch(
            session,
            select(col(Department.id), col(Department.name)).where(
                col(Department.id).in_([int(k) for k in keys])
            ),
        )
        return {str(i): n for i, n in found}
    if by is Dimension.TOWNSHIP:
        found = _fetch(
            session,
            select(col(JurisdictionRow.code), col(JurisdictionRow.name)).where(
                col(JurisdictionRow.code).in_(keys)
            ),
        )
        return dict(found)
    if by is Dimension.PLATFORM:
        found = _fetch(
            session,
            select(col(Platform.code), col(Platform.name)).where(col(Platform.code).in_(keys)),
        )
        return dict(found)
    # A matter's name from the newest list that has it.
    newest = (
        select(col(Matter.code), col(Matter.name))
        .where(col(Matter.code).in_(keys))
        .order_by(col(Matter.list_id))
    )
    return dict(_fetch(session, newest))


def _unnamed(by: Dimension) -> str:
    return {
        Dimension.TOWNSHIP: "未定位乡镇",
        Dimension.MATTER: "未归类事项",
        Dimension.PLATFORM: "未分平台",
    }.get(by, "未知单位")


def _per_10k(session: Session, rows: list[Row], total: Row) -> None:
    """Add each township's population and its reported events per 10,000 residents."""
    codes = [r.key for r in rows if r.key]
    populations = dict(
        _fetch(
            session,
            select(col(JurisdictionRow.code), col(JurisdictionRow.population)).where(
                col(JurisdictionRow.code).in_(codes)
            ),
        )
    )
    total_population = 0
    for row in rows:
        population = populations.get(row.key or "")
        row.values["population"] = population
        reported = row.values.get("reported")
        row.values["events_per_10k"] = (
            round(float(reported) * 10000 / population, 2)
            if population and reported is not None
            else None
        )
        total_population += population or 0
    total.values["population"] = total_population or None
    reported = total.values.get("reported")
    total.values["events_per_10k"] = (
        round(float(reported) * 10000 / total_population, 2)
        if total_population and reported is not None
        else None
    )


def _rank(rows: list[Row]) -> None:
    """Rank the rows by score, best first; equal scores share a rank (1, 2, 2, 4)."""
    scored = sorted(
        (r for r in rows if r.values.get("score") is not None),
        key=lambda r: -(r.values["score"] or 0),
    )
    previous: float | None = None
    for place, row in enumerate(scored, start=1):
        score = row.values["score"]
        row.rank = place if score != previous else scored[place - 2].rank
        previous = score
