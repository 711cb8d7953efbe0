"""The load generator's lean HTTP/1.1 client against a real loopback server."""

from __future__ import annotations

import asyncio

import pytest

from bench.harness.wire import ReadError, WireClient
from tests.helpers import run_async


async def _serve(answers: list[bytes]) -> tuple[asyncio.Server, list[bytes], list[int]]:
    """Answer each request with the next canned answer; b"" closes the connection instead."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            requests.append(head + await reader.readexactly(length))
            answer = answers.pop(0)
            if not answer:
                break
            await asyncio.sleep(0.01)  # so that a second request on the connection would overlap
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, requests, connections


def _answer(status: str, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_requests_share_one_connection_and_take_turns_on_it() -> None:
    async def run() -> None:
        answers = [_answer("201 Created", b'{"id":%d}' % i) for i in range(3)]
        server, requests, connections = await _serve(answers)
        port = server.sockets[0].getsockname()[1]
        client = WireClient(
            f"http://127.0.0.1:{port}", {"Authorization": "Bearer t"}, timeout_s=5, keepalive_s=5
        )
        got = await asyncio.gather(*(client.post("/api/events", b'{"n":1}') for _ in range(3)))
        await client.aclose()
        server.close()
        assert sorted(a.json()["id"] for a in got) == [0, 1, 2]
        assert {a.status_code for a in got} == {201}
        assert len(connections) == 1, "keep-alive: one connection for the three"
        assert all(r.startswith(b"POST /api/events HTTP/1.1\r\n") for r in requests)
        assert all(b"authorization: Bearer t\r\n" in r and r.endswith(b'{"n":1}') for r in requests)

    run_async(run())


def test_a_closed_connection_is_a_read_error_and_the_next_request_reconnects() -> None:
    async def run() -> None:
        answers = [b"", _answer("503 Service Unavailable", "繁忙".encode(), "Retry-After: 3")]
        server, _, connections = await _serve(answers)
        port = server.sockets[0].getsockname()[1]
        client = WireClient(f"http://127.0.0.1:{port}", {}, timeout_s=5, keepalive_s=5)
        with pytest.raises(ReadError):
            await client.post("/api/events", b"{}")
        again = await client.post("/api/events", b"{}")
        await client.aclose()
        server.close()
        assert again.status_code == 503 and again.headers["retry-after"] == "3"
        assert again.body.decode() == "繁忙" and len(connections) == 2

    run_async(run())
