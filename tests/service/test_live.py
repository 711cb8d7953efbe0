"""The fan-out's parts: frames, a slow viewer's bounded buffer, a shared snapshot's catch-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import redis.asyncio as aioredis

from dispatch.boards.streams import Board, BoardKind, BoardMessage, entry_seq, publish
from dispatch.core.redis import connect
from service.live import VIEWER_BUFFER, Frame, Hub, Viewer, _send_snapshot, encode_frame
from tests.helpers import run_async


def test_a_frame_carries_each_delta_with_its_sequence_number() -> None:
    entries = [
        (b"7-0", {b"d": b'{"type":"routed","event":{"id":1}}'}),
        (b"8-0", {b"d": b'{"type":"signed"}'}),
    ]
    frame = encode_frame(entries)
    body = json.loads(frame.text)
    assert (frame.first, frame.last) == (7, 8)
    assert body["seq"] == 8 and body["type"] == "deltas"
    assert [(d["seq"], d["type"]) for d in body["deltas"]] == [(7, "routed"), (8, "signed")]
    assert body["deltas"][0]["event"] == {"id": 1}


def test_a_viewer_that_falls_behind_is_dropped_and_resynchronised() -> None:
    viewer = Viewer()
    for n in range(VIEWER_BUFFER):
        viewer.offer(Frame(n, n, "{}"))
    assert len(viewer.frames) == VIEWER_BUFFER and not viewer.resync
    viewer.offer(Frame(VIEWER_BUFFER, VIEWER_BUFFER, "{}"))
    assert viewer.resync and not viewer.frames  # buffer dropped: a snapshot comes next
    viewer.offer(Frame(VIEWER_BUFFER + 1, VIEWER_BUFFER + 1, "{}"))
    assert not viewer.frames  # nothing queues until the resync is sent


class Socket:
    """Stands in for a websocket: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


def test_a_viewer_given_a_reused_snapshot_gets_what_the_hub_sent_before_it_joined(
    redis_url: str,
) -> None:
    # A snapshot is shared for SNAPSHOT_REUSE_S; a change the hub had already handed out by
    # the time the second viewer joined must reach that viewer now, not with the next change.
    board = Board(BoardKind.EVENT, "41")
    sync = connect(redis_url)

    def change(kind: str) -> None:
        publish(sync, [BoardMessage((board,), json.dumps({"type": kind, "steps": []}))])

    async def scenario() -> list[dict[str, Any]]:
        redis = aioredis.Redis.from_url(redis_url)
        hub = Hub(board, redis)
        hub.viewers.add(Viewer())
        await hub.start()
        try:

            async def make() -> str:
                return '{"type":"snapshot","board":"event","event":{}}'

            first = await hub.snapshot_for(make)
            change("supervise")  # committed after the snapshot, read by the hub at once
            for _ in range(100):
                if entry_seq(hub.cursor) > first.seq:
                    break
                await asyncio.sleep(0.02)
            socket = Socket()
            last = await _send_snapshot(socket, hub, make)  # type: ignore[arg-type]
            assert last == first.seq + 1
            return socket.sent
        finally:
            hub.viewers.clear()
            if hub.task is not None:
                hub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hub.task
            await redis.aclose()

    try:
        sent = run_async(scenario())
    finally:
        sync.close()
    assert [m["type"] for m in sent] == ["snapshot", "deltas"]
    assert sent[0]["seq"] == 0
    assert [d["type"] for d in sent[1]["deltas"]] == ["supervise"]
