"""SQL pieces the staffing evidence shares: hours between two times, the one median, and the
first few ids of each group (the evidence a figure links to)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Float, Select, Subquery, cast, func, select
from sqlmodel import Session

# How many events (or disputes) a figure links to; the count says how many there are in all.
EVIDENCE_CAP = 20


def is_postgres(session: Session) -> bool:
    """Return whether the session talks to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def hours_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """Return the SQL for the hours from start to end (fractional; negative if end is first)."""
    if is_postgres(session):
        return cast(func.extract("epoch", end - start), Float) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def percentile(ordered: Sequence[float] | np.ndarray, fraction: float) -> float | None:
    """Return the fraction's percentile of sorted values by linear interpolation, as
    PostgreSQL's percentile_cont does (the reports' one definition); None if none."""
    if len(ordered) == 0:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def median(values: Iterable[float]) -> float | None:
    """Return the median: the middle value, or the mean of the two middle ones; None if none.

    The same as PostgreSQL's percentile_cont(0.5), which the PostgreSQL path uses.
    """
    return percentile(sorted(float(v) for v in values), 0.5)


def medians_by(
    session: Session, keys: list[Any], value: ColumnElement[Any], query: Select[Any]
) -> dict[tuple[Hashable, ...], float]:
    """Return the median of value per group of keys over the rows the query's WHERE selects.

    PostgreSQL computes percentile_cont(0.5) per group; SQLite has no percentile function,
    so it reads the narrow projection (keys, value) and takes the same median in Python.
    """
    if is_postgres(session):
        grouped = query.with_only_columns(
            *keys, func.percentile_cont(0.5).within_group(value)
        ).group_by(*keys)
        return {
            tuple(row[:-1]): float(row[-1])
            for row in session.execute(grouped)
            if row[-1] is not None
        }
    values: dict[tuple[Hashable, ...], list[float]] = {}
    for row in session.execute(query.with_only_columns(*keys, value)):
        if row[-1] is not None:
            values.setdefault(tuple(row[:-1]), []).append(float(row[-1]))
    return {key: m for key, found in values.items() if (m := median(found)) is not None}


def first_ids(
    session: Session, grouped: Subquery, cap: int = EVIDENCE_CAP
) -> dict[tuple[Hashable, ...], list[int]]:
    """Return, per group, the first `cap` ids (largest first) of a subquery (keys…, id).

    The subquery should yield each (keys, id) once (GROUP BY or DISTINCT).
    """
    columns = list(grouped.c)
    keys, ident = columns[:-1], columns[-1]
    rank = func.row_number().over(partition_by=keys, order_by=ident.desc()).label("rank")
    ranked = select(*columns, rank).subquery()
    outer = list(ranked.c)
    rows = session.execute(
        select(*outer[:-1]).where(outer[-1] <= cap).order_by(*outer[:-2], outer[-2].desc())
    )
    found: dict[tuple[Hashable, ...], list[int]] = {}
    for row in rows:
        found.setdefault(tuple(row[:-1]), []).append(int(row[-1]))
    return found
