"""The one table that maps domain errors to HTTP statuses, and the handlers that apply it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError

from dispatch.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    ImportRejected,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
)
from geo.coords import CoordinateError

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ImportRejected, 422),
    (TooLarge, 413),
    (InvalidInput, 422),
    (CoordinateError, 422),
    (TooManyAttempts, 429),
    (Unauthorized, 401),
    (Forbidden, 403),
)


def status_for(exc: Exception) -> int:
    """Return the HTTP status of a domain error (the most specific class wins)."""
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 400


# Websocket application close codes are 4000-4999: 4000 + the HTTP status of the same error,
# so a board refused for a missing token closes 4401 where a request answers 401.
WS_CLOSE_BASE = 4000


def close_code_for(exc: Exception) -> int:
    """Return the websocket close code of a domain error, from the same table as HTTP."""
    return WS_CLOSE_BASE + status_for(exc)


def _body(exc: Exception) -> dict[str, object]:
    detail: dict[str, object] = {"message": str(getattr(exc, "message", exc))}
    field = getattr(exc, "field", None)
    if field:
        detail["field"] = field
    if isinstance(exc, ImportRejected):
        detail["problems"] = [
            {"row": p.row, "column": p.column, "message": p.message} for p in exc.problems
        ]
    return {"detail": detail}


def error_response(exc: DomainError) -> JSONResponse:
    """Answer a domain error by the table: 401 with its Bearer challenge, 429 with Retry-After.

    For routes that must commit what they wrote and still refuse (a failed sign-in).
    """
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=status_for(exc), content=_body(exc), headers=headers)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append({"field": location, "message": error.get("msg", "invalid")})
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(
        status_code=422,
        content={
            "detail": {
                "message": f"{first['field']}: {first['message']}"
                if first["field"]
                else first["message"],
                "field": first["field"],
                "problems": problems,
            }
        },
    )


# PostgreSQL's "try again" states: a serialization failure and a deadlock. Another
# transaction won; the client should reload and decide again, so they are conflicts.
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
CONCURRENT_CHANGE = "数据已被他人同时修改，请刷新后重试 (changed concurrently: reload and retry)"


def _sqlstate(exc: Exception) -> str | None:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) else None


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("answering 409 for a database conflict: %s", exc)
    return JSONResponse(status_code=409, content={"detail": {"message": CONCURRENT_CHANGE}})


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if _sqlstate(exc) in RETRY_SQLSTATES:
        return await _conflict(request, exc)
    log.warning("answering 503: %s", exc)
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": "2"},
        content={"detail": {"message": "服务暂时繁忙，请稍后重试 (temporarily unavailable)"}},
    )


async def _coordinate_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=status_for(exc), content=_body(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: domain errors by the table, request validation as 422."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(CoordinateError, _coordinate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # A locked or unreachable database is the server's trouble, not the client's: 503, retry.
    app.add_exception_handler(OperationalError, _unavailable)
    # A unique or check constraint refused the write (at flush or at commit): a conflict.
    app.add_exception_handler(IntegrityError, _conflict)
