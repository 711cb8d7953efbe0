"""Refuse, in one place, text that no column can hold: the NUL character anywhere in a request.

PostgreSQL's text types cannot store U+0000, so a NUL in any string a request carries (path,
query, JSON body, form field, an upload's file name) would fail deep in a query as a 500. This
dependency runs before every route's own parameters and answers 422 naming the field instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request

from dispatch.core.bounds import nul_free

NUL_MESSAGE = "不能包含空字符（NUL）"

Location = tuple[str | int, ...]


def _in_json(value: Any, where: Location) -> Iterator[Location]:
    if isinstance(value, str):
        if not nul_free(value):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not nul_free(key):
                yield (*where, key)
            yield from _in_json(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _in_json(item, (*where, index))


def nul_locations(connection: HTTPConnection) -> list[Location]:
    """Return where the request carries a NUL: ("path", name), ("query", name), ("body", …)."""
    found: list[Location] = [
        ("path", name)
        for name, value in connection.path_params.items()
        if isinstance(value, str) and not nul_free(value)
    ]
    found += [
        ("query", name)
        for name, value in connection.query_params.multi_items()
        if not (nul_free(name) and nul_free(value))
    ]
    if isinstance(connection, Request):
        # FastAPI has parsed the body before it solves dependencies; Starlette keeps it.
        form = getattr(connection, "_form", None)
        if form is not None:
            for name, value in form.multi_items():
                text = (value.filename or "") if isinstance(value, UploadFile) else value
                if not (nul_free(name) and nul_free(text)):
                    found.append(("body", name))
        if hasattr(connection, "_json"):
            found += _in_json(connection._json, ("body",))
    return found


async def refuse_nul(connection: HTTPConnection) -> None:
    """Answer 422 (a websocket: close 4422) naming the first field that holds a NUL."""
    found = nul_locations(connection)
    if not found:
        return
    errors = [{"type": "string_nul", "loc": where, "msg": NUL_MESSAGE} for where in found]
    if isinstance(connection, Request):
        raise RequestValidationError(errors)
    raise WebSocketRequestValidationError(errors)
