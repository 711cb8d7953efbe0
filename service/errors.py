"""The one table that maps domain errors to HTTP statuses, and the handlers that apply it."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Send

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
from service.document import complete_document, component_schemas, model_schemas
from service.wording import validation_words

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


class Problem(BaseModel):
    """One thing wrong with a request (the field it is in), or one refused row of an import."""

    code: str = Field(description="机器可读的错误码，如 missing、float_parsing、invalid_row")
    message: str = Field(description="给人看的中文说明")
    field: str | None = None
    row: int | None = None
    column: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong: a stable code for programs, a Chinese message for people, the field."""

    code: str = Field(
        description="机器可读的错误码（snake_case），如 not_found、status_conflict、missing"
    )
    message: str = Field(description="给人看的中文说明；页面只显示它")
    field: str | None = None
    status: str | None = Field(default=None, description="状态冲突时：当前状态的编码")
    action: str | None = Field(default=None, description="状态冲突时：被拒绝的动作的编码")
    problems: list[Problem] | None = None


class ErrorBody(BaseModel):
    """Every error response: 401, 403, 404, 409, 413, 422, 503."""

    detail: ErrorDetail


def error_body(code: str, message: str, **more: object) -> dict[str, object]:
    """Return the one error body: {"detail": {"code", "message", and what else is known}}."""
    detail: dict[str, object] = {"code": code, "message": message}
    detail.update({key: value for key, value in more.items() if value is not None})
    return {"detail": detail}


async def send_error(
    send: Send, status: int, body: dict[str, object], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer at the ASGI level with an error body (middleware that answers before the app)."""
    encoded = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(encoded)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})


def _body(exc: Exception) -> dict[str, object]:
    extra = getattr(exc, "extra", None) or {}
    problems = None
    if isinstance(exc, ImportRejected):
        problems = [
            {"code": "invalid_row", "row": p.row, "column": p.column, "message": p.message}
            for p in exc.problems
        ]
    return error_body(
        str(getattr(exc, "code", "invalid_input")),
        str(getattr(exc, "message", exc)),
        field=getattr(exc, "field", None) or None,
        status=extra.get("status"),
        action=extra.get("action"),
        problems=problems,
    )


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


def _validation_detail(errors: Any) -> dict[str, Any]:
    problems = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        kind = str(error.get("type") or "invalid_input")
        if kind == "json_invalid":  # its location is a character position
            location = "body"
        problems.append(
            {
                "code": kind,
                "field": location or None,
                "message": validation_words(error, location or None),
            }
        )
    first = problems[0] if problems else {"code": "invalid_input", "field": None}
    return {
        "code": first["code"],
        "message": problems[0]["message"] if problems else "请求参数有误",
        "field": first["field"],
        "problems": problems,
    }


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _validation_detail(exc.errors())})


async def _websocket_validation_error(websocket: WebSocket, exc: Exception) -> None:
    """Close a websocket whose path or query is invalid with 4422, naming the field."""
    assert isinstance(exc, WebSocketRequestValidationError)
    detail = _validation_detail(exc.errors())
    # Accept first: a close before the handshake would reach the client as a bare HTTP 403.
    await websocket.accept()
    # A close reason is for the client program: the field's path, then the message.
    said = f"{detail['field']}：{detail['message']}" if detail["field"] else detail["message"]
    reason = said.encode()[:120].decode(errors="ignore")  # 123 bytes at most
    await websocket.close(WS_CLOSE_BASE + 422, reason)


FORM_REFUSED = "表单数据无效（文件名最长 255 个字符，每个字段最大 1 MB，最多 1000 个字段）"
FORM_TOO_LARGE = "表单数据过大（每个字段最大 1 MB）"
BODY_REFUSED = "请求体无法解析，须为 UTF-8 编码的 JSON"

# FastAPI's own refusals (no such route, a method the route lacks, …), in words and codes.
HTTP_WORDS: dict[int, tuple[str, str]] = {
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    406: ("not_acceptable", "无法按请求的格式应答"),
    413: ("too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持该请求体格式"),
}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Answer a body that could not be parsed (a bare 400 otherwise) as 413 or 422 with our body."""
    assert isinstance(exc, HTTPException)
    refused = exc.__context__
    if exc.status_code == 400 and isinstance(refused, MultiPartException):
        if "exceeded maximum size" in refused.message:
            return _body_refused(413, "too_large", FORM_TOO_LARGE)
        return _body_refused(422, "form_invalid", FORM_REFUSED)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI could not read the body at all (bytes that are not UTF-8, say).
        return _body_refused(422, "body_unreadable", BODY_REFUSED)
    if isinstance(exc.detail, dict) and "code" in exc.detail:  # already our body (limits.py)
        return await http_exception_handler(request, exc)
    code, message = HTTP_WORDS.get(exc.status_code, ("http_error", "请求无法处理"))
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(code, message),
        headers=getattr(exc, "headers", None),
    )


def _body_refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, message, field="body"))


# PostgreSQL's "try again" states: a serialization failure and a deadlock. Another
# transaction won; the client should reload and decide again, so they are conflicts.
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
CONCURRENT_CHANGE = "数据已被他人同时修改，请刷新后重试"
REFUSED_VALUE = "数据超出允许的范围或格式，未保存"


def _sqlstate(exc: Exception) -> str | None:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) else None


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("answering 409 for a database conflict: %s", exc)
    return JSONResponse(
        status_code=409, content=error_body("changed_concurrently", CONCURRENT_CHANGE)
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if _sqlstate(exc) in RETRY_SQLSTATES:
        return await _conflict(request, exc)
    log.warning("answering 503: %s", exc)
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": "2"},
        content=error_body("unavailable", "服务暂时繁忙，请稍后重试"),
    )


async def _refused_value(_request: Request, exc: Exception) -> JSONResponse:
    # Validation bounds every field a request writes, so this is a value they missed.
    log.warning("answering 422 for a value the database refused: %s", exc)
    return JSONResponse(status_code=422, content=error_body("invalid_value", REFUSED_VALUE))


async def _coordinate_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=status_for(exc), content=_body(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: domain errors by the table, request validation as 422."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(CoordinateError, _coordinate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(WebSocketRequestValidationError, _websocket_validation_error)
    # A locked or unreachable database is the server's trouble, not the client's: 503, retry.
    app.add_exception_handler(OperationalError, _unavailable)
    # A unique or check constraint refused the write (at flush or at commit): a conflict.
    app.add_exception_handler(IntegrityError, _conflict)
    # A value out of a column's range or form (SQLSTATE class 22): the request's, not ours.
    app.add_exception_handler(DataError, _refused_value)


def document_errors(app: FastAPI) -> None:
    """Make every operation's 422 in the OpenAPI document the ErrorBody the handlers send.

    FastAPI documents its own HTTPValidationError (`detail` an array), which this service
    never sends; the document must say what a client will receive.
    """

    def complete(document: dict[str, Any]) -> None:
        schemas = component_schemas(document)
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.update(model_schemas(ErrorBody))
        for item in document.get("paths", {}).values():
            for operation in item.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None:
                    invalid["description"] = "请求参数有误（错误信息指明字段）"
                    invalid["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    }

    complete_document(app, complete)
