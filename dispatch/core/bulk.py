"""Many rows of one table in one INSERT, returned as the session's objects, on either database.

PostgreSQL gets one array per column (`INSERT … SELECT … FROM unnest(…) RETURNING *`): a
handful of parameters however many rows, where a multi-row VALUES list costs the driver a
parse of thousands of placeholders. SQLite gets the ORM's multi-row INSERT … RETURNING.
Either way each value goes through its column's type (enums checked, times in UTC), and the
rows come back as persistent objects of the session, in no particular order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import JSON, Table, insert, select, text
from sqlmodel import Session, SQLModel

Model = TypeVar("Model", bound=SQLModel)


def insert_many(
    session: Session, model: type[Model], rows: Sequence[dict[str, Any]]
) -> list[Model]:
    """Insert rows (dicts with the same keys) into the model's table; return them as objects."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        return list(
            session.scalars(insert(model).returning(model, sort_by_parameter_order=True), rows)
        )
    table: Table = model.__table__  # type: ignore[attr-defined]
    names = list(rows[0])
    params: dict[str, list[Any]] = {}
    arrays, values = [], []
    for i, name in enumerate(names):
        column = table.c[name]
        processor = column.type.bind_processor(dialect)
        column_values = [row[name] for row in rows]
        if processor is not None:
            column_values = [processor(v) for v in column_values]
        if isinstance(column.type, JSON):
            # JSON travels as text and is cast per row: psycopg has no list-of-dicts array.
            params[f"c{i}"] = [
                None if v is None else json.dumps(v) for v in [row[name] for row in rows]
            ]
            arrays.append(f"CAST(:c{i} AS TEXT[])")
            values.append(f"CAST(u.c{i} AS JSON)")
            continue
        params[f"c{i}"] = column_values
        arrays.append(f"CAST(:c{i} AS {column.type.compile(dialect=dialect)}[])")
        values.append(f"u.c{i}")
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    statement = text(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(values)}"
        f" FROM unnest({', '.join(arrays)}) AS u({aliases}) RETURNING *"
    )
    return list(session.scalars(select(model).from_statement(statement), params))
