"""A lean HTTP/1.1 client for the load generator: asyncio streams, one connection, keep-alive.

Requests given to one client take turns on its connection (one in flight at a time).

httpx spends about 0.6-0.9 ms of CPU a request; at a thousand attempts a second the
generator, sharing two cores with the service it measures, would need more than a core and
its own queueing would show up as the service's latency. This client does what the benches
need and no more (a POST with a body, or a GET; the status, the headers, a Content-Length
body) for about a tenth of that. Anything else the server sends is a WireError.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class WireError(Exception):
    """The exchange failed: no connection, a connection closed, a timeout, a garbled answer."""


class ConnectError(WireError):
    """The connection could not be opened."""


class ReadError(WireError):
    """The connection closed or broke before the whole answer came."""


class ReadTimeout(WireError):
    """The answer did not come in time."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A response: its status, its headers (names lower-cased) and its body."""

    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body read as JSON."""
        return json.loads(self.body)


class WireClient:
    """One keep-alive connection to one server, opened on first use and again when lost."""

    def __init__(
        self, base_url: str, headers: dict[str, str], *, timeout_s: float, keepalive_s: float
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"plain http URLs only: {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        fixed = {"host": f"{self.host}:{self.port}", **{k.lower(): v for k, v in headers.items()}}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._idle_since = 0.0
        # Requests given to one client wait their turn for its connection, as with httpx.
        self._turn = asyncio.Lock()

    async def post(self, path: str, content: bytes) -> Answer:
        """POST content to path and return the answer."""
        return await self._exchange(b"POST", path, content)

    async def get(self, path: str) -> Answer:
        """GET path and return the answer."""
        return await self._exchange(b"GET", path, None)

    async def aclose(self) -> None:
        """Close the connection, if one is open."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _exchange(self, method: bytes, path: str, content: bytes | None) -> Answer:
        async with self._turn:
            return await self._send(method, path, content)

    async def _send(self, method: bytes, path: str, content: bytes | None) -> Answer:
        request = method + b" " + path.encode() + b" HTTP/1.1\r\n" + self._head
        if content is not None:
            request += b"content-length: " + str(len(content)).encode() + b"\r\n\r\n" + content
        else:
            request += b"\r\n"
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writer is None or time.monotonic() - self._idle_since > self.keepalive_s:
                    await self.aclose()
                    await self._connect()
                assert self._reader is not None and self._writer is not None
                self._writer.write(request)
                answer = await self._read(self._reader)
        except TimeoutError:
            await self.aclose()
            raise ReadTimeout(f"no answer within {self.timeout_s:g} s") from None
        except WireError:
            await self.aclose()
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise ReadError(str(exc) or type(exc).__name__) from exc
        if answer.headers.get("connection", "").lower() == "close":
            await self.aclose()
        self._idle_since = time.monotonic()
        return answer

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise ConnectError(str(exc)) from exc

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Answer:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ReadError(f"not an HTTP/1 answer: {lines[0][:40]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding"):
            raise ReadError("chunked answers are not read by this client")
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return Answer(int(rest[:3]), headers, body)
