"""The ledger as files: who may export which events, and the CSV and XLSX streams."""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from dispatch.core.clock import CHINA_TZ, as_utc, local_date, utcnow
from dispatch.events.service import EventFilter, event_conditions
from dispatch.ledger.columns import COLUMNS, HEADERS
from dispatch.ledger.rows import LedgerQuery, ledger_batches
from dispatch.ledger.workbook import stream_ledger_workbook
from dispatch.reports.periods import Period, period
from dispatch.reports.workbook import Kind
from dispatch.users.policy import Action, Actor, authorize

CSV_TYPE = "text/csv; charset=utf-8"
SHEET_NAME = "台账"
BOM = "\ufeff"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class LedgerExport:
    """What one export holds and what its file is called."""

    query: LedgerQuery
    period: Period | None

    def file_name(self, suffix: str) -> str:
        """Name the file by its period: 台账_2026-11-01_2026-11-30.csv, or up to today."""
        if self.period is not None:
            days = f"{self.period.first.isoformat()}_{self.period.last.isoformat()}"
        else:
            days = f"截至{local_date(self.query.now).isoformat()}"
        return f"台账_{days}.{suffix}"


def prepare_export(
    session: Session,
    actor: Actor,
    where: EventFilter,
    *,
    first: date | None = None,
    last: date | None = None,
    now: datetime | None = None,
) -> LedgerExport:
    """Check who exports, narrow the events list's filter to the period, fix the moment.

    Without from/to the ledger holds every event the filter selects; with either, the
    period of periods.period (to defaults to today, from to the first of to's month) is
    intersected with since/until, all by the time the event was received.
    """
    authorize(actor, Action.READ_REPORTS)
    now = now or utcnow()
    chosen = period(first, last, now=now) if first is not None or last is not None else None
    if chosen is not None:
        since = max(where.since, chosen.start) if where.since else chosen.start
        until = min(where.until, chosen.end) if where.until else chosen.end
        where = replace(where, since=since, until=until)
    conditions = tuple(event_conditions(session, where, now=now))
    return LedgerExport(LedgerQuery(conditions, now), chosen)


def csv_chunks(
    engine: Engine, export: LedgerExport, *, batch_size: int | None = None
) -> Generator[bytes]:
    """Yield the ledger as CSV: the BOM and the header first, then one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    yield (BOM + _drain(buffer)).encode("utf-8")
    for rows in ledger_batches(engine, export.query, batch_size=batch_size):
        writer.writerows(map(_csv_row, rows))
        yield _drain(buffer).encode("utf-8")


def xlsx_chunks(
    engine: Engine, export: LedgerExport, *, batch_size: int | None = None
) -> Iterator[bytes]:
    """Yield the ledger as an XLSX workbook of one sheet, 台账 (written, then sent in chunks)."""

    def rows() -> Iterator[tuple[Any, ...]]:
        for batch in ledger_batches(engine, export.query, batch_size=batch_size):
            yield from batch

    yield from stream_ledger_workbook(SHEET_NAME, [c.column for c in COLUMNS], rows())


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def safe_text(text: str) -> str:
    """Quote a cell a spreadsheet would run as a formula with a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def beijing_minute(moment: datetime) -> str:
    """Write a time as clock.beijing_text does, without strftime: a ledger writes a million.

    Each Beijing day's text is made once. A time in UTC (as the database gives them) moves
    by CHINA_TZ's fixed offset, a tenth of astimezone's cost; only the fields are read. A
    test holds the two texts equal.
    """
    t = moment + _CHINA_OFFSET if moment.tzinfo is UTC else as_utc(moment).astimezone(CHINA_TZ)
    two = _TWO_DIGITS
    day = _DAYS.get(ordinal := t.toordinal())
    if day is None:
        day = f"{t.year}/{two[t.month]}/{two[t.day]} "
        if len(_DAYS) < _DAYS_KEPT:
            _DAYS[ordinal] = day
    return f"{day}{two[t.hour]}:{two[t.minute]}"


_TWO_DIGITS = tuple(f"{i:02}" for i in range(60))
_CHINA_OFFSET = CHINA_TZ.utcoffset(None)
_TIMES = tuple(i for i, c in enumerate(COLUMNS) if c.kind is Kind.TIME)
_TEXTS = tuple(i for i, c in enumerate(COLUMNS) if c.kind is Kind.TEXT)
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
# Each Beijing day's "2026/11/20 " by its ordinal, for as many days as a century holds.
_DAYS: dict[int, str] = {}
_DAYS_KEPT = 40_000


def _csv_row(row: Sequence[Any]) -> list[Any]:
    """Turn a row's values into CSV cells (csv.writer itself writes None empty, numbers as text)."""
    cells = list(row)
    minute = beijing_minute
    for i in _TIMES:
        if (value := cells[i]) is not None:
            cells[i] = minute(value)
    for i in _TEXTS:
        value = cells[i]
        if value.__class__ is bool:
            cells[i] = "是" if value else "否"
        elif value and value[0] in _FORMULA_FIRST:
            cells[i] = "'" + value
    return cells
