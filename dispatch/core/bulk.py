"""Many rows of one table in one INSERT, returned as the session's objects, on either database.

PostgreSQL gets one array per column (`INSERT … SELECT * FROM unnest(…) RETURNING *`) with the
ids drawn from the sequence first: a handful of parameters however many rows, where a multi-row
VALUES list costs the driver a parse of thousands of placeholders. SQLite gets the ids after the
largest and one executemany (its RETURNING costs a statement per row), the rows read back.
Either way each value goes through its column's type (enums checked, times in UTC, JSON as the
ORM writes it), and the rows come back as persistent objects of the session in the order given,
so a caller can pair each with what it stands for (routing: a part with its plan). Rows stored
exactly as given (steps) need not be read back: insert_rows returns only their ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, text
from sqlmodel import Session, SQLModel

Model = TypeVar("Model", bound=SQLModel)


def insert_many(
    session: Session, model: type[Model], rows: Sequence[dict[str, Any]]
) -> list[Model]:
    """Insert rows (dicts with the same keys, no id) into the table; return them in order."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement, arrays = _unnest_insert(session, model, rows, returning=True)
        found = {
            row.id: row for row in session.scalars(select(model).from_statement(statement), arrays)
        }
        return [found[i] for i in arrays["id"]]
    ids = _sqlite_insert(session, model, rows)
    table: Any = model.__table__  # type: ignore[attr-defined]
    written: Any = session.scalars(select(model).where(table.c.id.in_(ids)))
    found = {row.id: row for row in written}
    return [found[i] for i in ids]


def insert_rows(session: Session, model: type[Model], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows (dicts with the same keys, no id) into the table; return their ids in order.

    Nothing is read back and no object is made (an ORM object costs more to build than its row
    to write): for append-only rows whose stored values are the values given, such as steps.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement, arrays = _unnest_insert(session, model, rows, returning=False)
        session.execute(statement, arrays)
        return list(arrays["id"])
    return _sqlite_insert(session, model, rows)


def _sqlite_insert(
    session: Session, model: type[Model], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Number the rows after the largest id and insert them in one executemany; return the ids.

    SQLite has one writer at a time and the transaction holds its lock from BEGIN IMMEDIATE
    (core.db), so nobody else takes these ids.
    """
    table: Any = model.__table__  # type: ignore[attr-defined]
    first = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    ids = list(range(first, first + len(rows)))
    numbered = [{**row, "id": i} for i, row in zip(ids, rows, strict=True)]
    # NULLs written, not left out: every row has the same columns, so one executemany.
    session.execute(insert(model).execution_options(render_nulls=True), numbered)
    return ids


def _unnest_insert(
    session: Session, model: type[Model], rows: Sequence[dict[str, Any]], *, returning: bool
) -> tuple[Any, dict[str, list[Any]]]:
    """Draw the ids from the sequence; return the INSERT of one array per column, and the arrays.

    The arrays' "id" holds the ids drawn, in the order of the rows.
    """
    table: Any = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    columns = [table.c[name] for name in rows[0] if name != "id"]
    sequence = func.pg_get_serial_sequence(table.name, "id")
    ids = list(
        session.scalars(
            select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))
        )
    )
    arrays: dict[str, list[Any]] = {"id": ids}
    casts = ["CAST(:id AS BIGINT[])"]
    # As the ORM writes JSON: the engine's serializer, and None as JSON null (none_as_null off).
    to_json = getattr(dialect, "_json_serializer", None) or json.dumps
    for column in columns:
        values = [row[column.key] for row in rows]
        kind = column.type.compile(dialect=dialect)
        if kind in ("JSON", "JSONB"):
            values = [to_json(v) for v in values]
        elif process := column.type.bind_processor(dialect):
            values = [process(v) for v in values]
        arrays[column.key] = values
        casts.append(f"CAST(:{column.key} AS {kind}[])")
    names = ", ".join(["id", *(c.name for c in columns)])
    statement = text(
        f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({', '.join(casts)})"
        + (" RETURNING *" if returning else "")
    )
    return statement, arrays
