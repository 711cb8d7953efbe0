"""Protect the API: refuse oversized bodies (413), cap requests in flight to the DB pool."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.events.attachments import MAX_BYTES
from service.errors import error_body, send_error

# An upload's limit plus room for the multipart envelope.
MAX_BODY_BYTES = MAX_BYTES + 64 * 1024


class BodySizeLimit:
    """ASGI middleware: 413 when Content-Length, or the bytes actually sent, pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _BodyTooLarge(HTTPException):
    """Raised inside receive() when a body without Content-Length grows past the limit.

    An HTTPException, because FastAPI turns any other error raised while it reads the body
    into 400 "error parsing the body"; this one it lets through, and its handler answers 413.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413, {"code": "too_large", "message": _too_large_message(max_bytes), "field": "body"}
        )


def _too_large_message(max_bytes: int) -> str:
    return f"请求体超过 {max_bytes // (1024 * 1024)} MB 上限"


async def _too_large(send: Send, max_bytes: int) -> None:
    body = error_body("too_large", _too_large_message(max_bytes), field="body")
    await send_error(send, 413, body)


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` HTTP requests inside the app at once; others wait.

    Each request holds one database connection while it runs; letting more requests in
    than there are connections makes them wait on the pool while holding threads, and the
    API stalls until the pool times out. Waiting here costs nothing but a queued coroutine.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[tuple[str, str], ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)  # (method, path) of routes that hold no connection
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)
