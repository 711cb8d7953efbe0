"""Live boards over websockets: a snapshot, then coalesced deltas read from Redis Streams.

Each API process runs one hub per board that has viewers: a task that reads the board's
stream and hands every viewer the same pre-encoded frame, at most one frame per
`COALESCE_S`. Several API processes behind one Redis each read the streams themselves, so
fan-out never depends on process memory. A viewer whose buffer overflows (a slow or dead
client) is dropped from the fan-out and resynchronised with a fresh snapshot; it never
stalls the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from dispatch.boards.streams import EPOCH_KEY, Board, BoardKind, entry_seq, seq_key, with_seq

log = logging.getLogger(__name__)

# At most ~10 frames a second per board; a change waits at most this long to be sent.
COALESCE_S = 0.1
# Frames a viewer may fall behind before it is resynchronised (~10 s at full rate).
VIEWER_BUFFER = 100
# A snapshot serves every viewer that joins within this long (a board opened by many at once).
SNAPSHOT_REUSE_S = 1.0
XREAD_BLOCK_MS = 1000
CATCH_UP_LIMIT = 5000
# A board's snapshot carries its last deltas (`recent`, newest first): a reloaded feed keeps them.
FEED_HISTORY = 50


@dataclass(frozen=True, slots=True)
class Frame:
    """A batch of deltas, encoded once for every viewer: sequence numbers first..last."""

    first: int
    last: int
    text: str


@dataclass
class Snapshot:
    """A board's starting state as sent, with the sequence number it is consistent with."""

    seq: int
    text: str
    taken: float


class Viewer:
    """One websocket's place in a hub: a bounded buffer of frames, or a pending resync."""

    def __init__(self) -> None:
        self.frames: deque[Frame] = deque()
        self.resync = False
        self.wakeup = asyncio.Event()

    def offer(self, frame: Frame) -> None:
        """Queue a frame; past the buffer, drop everything and ask for a resync instead."""
        if self.resync:
            return
        if len(self.frames) >= VIEWER_BUFFER:
            self.frames.clear()
            self.resync = True
        else:
            self.frames.append(frame)
        self.wakeup.set()


SnapshotMaker = Callable[[], Awaitable[str]]
# A websocket close code and reason; a Recheck returns one when the viewer may watch no more.
Closing = tuple[int, str]
Recheck = Callable[[], Awaitable[Closing | None]]


@dataclass(frozen=True, slots=True)
class Watch:
    """Ask `recheck` every `interval` seconds whether the viewer may still watch."""

    recheck: Recheck
    interval: float


@dataclass
class Hub:
    """The readers of one board in this process, and the task that feeds them."""

    board: Board
    redis: aioredis.Redis
    viewers: set[Viewer] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    cursor: str = "0-0"
    snapshot: Snapshot | None = None
    snapshot_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        """Start reading after the board's current position."""
        current = await self.redis.get(seq_key(self.board.stream))
        self.cursor = f"{int(current or 0)}-0"
        self.task = asyncio.create_task(self._run(), name=f"hub {self.board.stream}")

    async def _run(self) -> None:
        stream = self.board.stream
        while self.viewers:
            try:
                reply = await self.redis.xread({stream: self.cursor}, block=XREAD_BLOCK_MS)
            except aioredis.RedisError as exc:
                log.warning("board %s: Redis read failed, retrying: %s", stream, exc)
                await asyncio.sleep(1.0)
                continue
            if not reply:
                continue
            entries = _entries(reply[0][1])  # type: ignore[index]
            self.cursor = entries[-1][0].decode()
            frame = encode_frame(entries)
            for viewer in list(self.viewers):
                viewer.offer(frame)
            await asyncio.sleep(COALESCE_S)  # let the next changes gather into one frame

    async def snapshot_for(self, make: SnapshotMaker) -> Snapshot:
        """Return a recent snapshot of the board, taking a new one when none is fresh."""
        async with self.snapshot_lock:
            now = time.monotonic()
            if self.snapshot is None or now - self.snapshot.taken > SNAPSHOT_REUSE_S:
                # The position is read before the database: a change committed in between
                # appears twice (cards are upserts), never not at all.
                seq = int(await self.redis.get(seq_key(self.board.stream)) or 0)
                text = await make()
                if self.board.kind is not BoardKind.EVENT:
                    text = f"{text[:-1]},{await recent_deltas(self.redis, self.board, seq)}}}"
                self.snapshot = Snapshot(seq, text, now)
            return self.snapshot


async def recent_deltas(redis: aioredis.Redis, board: Board, upto: int) -> str:
    """Return `"recent":[…]`: the board's last FEED_HISTORY deltas up to upto, newest first."""
    entries = _entries(await redis.xrevrange(board.stream, max=f"{upto}-0", count=FEED_HISTORY))
    deltas = ",".join(with_seq(entry_seq(i), fields[b"d"]) for i, fields in entries)
    return f'"recent":[{deltas}]'


def _entries(raw: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Type what redis-py returns for stream entries (it declares a loose union)."""
    return cast(list[tuple[bytes, dict[bytes, bytes]]], raw)


def encode_frame(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> Frame:
    """Encode stream entries as one deltas frame, without decoding their JSON."""
    seqs = [entry_seq(entry_id) for entry_id, _ in entries]
    payloads = [fields[b"d"] for _, fields in entries]
    deltas = ",".join(with_seq(s, p) for s, p in zip(seqs, payloads, strict=True))
    text = f'{{"seq":{seqs[-1]},"type":"deltas","deltas":[{deltas}]}}'
    return Frame(seqs[0], seqs[-1], text)


class Hubs:
    """The hubs of this process, one per board with viewers, sharing one Redis client."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.hubs: dict[str, Hub] = {}

    async def join(self, board: Board, viewer: Viewer) -> Hub:
        """Add a viewer to the board's hub, starting the hub if it is the first."""
        hub = self.hubs.get(board.stream)
        if hub is None or (hub.task is not None and hub.task.done()):
            hub = Hub(board, self.redis)
            self.hubs[board.stream] = hub
            hub.viewers.add(viewer)
            await hub.start()
        else:
            hub.viewers.add(viewer)
        return hub

    def leave(self, hub: Hub, viewer: Viewer) -> None:
        """Remove a viewer; the hub's task ends by itself once nobody watches."""
        hub.viewers.discard(viewer)
        if not hub.viewers and self.hubs.get(hub.board.stream) is hub:
            del self.hubs[hub.board.stream]

    async def close(self) -> None:
        """Stop every hub (at shutdown)."""
        for hub in list(self.hubs.values()):
            hub.viewers.clear()
            if hub.task is not None:
                hub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await hub.task
        self.hubs.clear()


async def current_epoch(redis: aioredis.Redis) -> str:
    """Return this Redis's board epoch, made once; a Redis that lost its data gets a new one."""
    await redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
    value = await redis.get(EPOCH_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)


async def missed_since(
    redis: aioredis.Redis, board: Board, since: int, until: int | None = None
) -> Frame | None:
    """Return the deltas after since (up to until) as one frame, or None when some are gone."""
    stream = board.stream
    upper = f"{until}-0" if until is not None else "+"
    entries = _entries(
        await redis.xrange(stream, min=f"({since}-0", max=upper, count=CATCH_UP_LIMIT)
    )
    expected_last = until if until is not None else int(await redis.get(seq_key(stream)) or 0)
    if expected_last <= since:
        return _nothing_missed(since) if expected_last == since else None
    if not entries or entry_seq(entries[0][0]) != since + 1:
        return None  # trimmed away (or the counter was reset): the caller sends a snapshot
    frame = encode_frame(entries)
    if frame.last < expected_last and until is not None:
        return None
    return frame


def _nothing_missed(since: int) -> Frame:
    """Tell a rejoining client it missed nothing (every message has a seq and a type)."""
    return Frame(since, since, f'{{"seq":{since},"type":"deltas","deltas":[]}}')


async def serve_board(
    websocket: WebSocket,
    hubs: Hubs,
    board: Board,
    make_snapshot: SnapshotMaker,
    *,
    since: int | None,
    epoch: str | None,
    watch: Watch | None = None,
) -> None:
    """Send a snapshot (or what was missed since `since`), then deltas until the client goes.

    With a watch, the board is closed as soon as a re-check refuses the viewer.
    """
    viewer = Viewer()
    hub = await hubs.join(board, viewer)
    try:
        receiver = asyncio.create_task(_until_closed(websocket))
        sender = asyncio.create_task(
            _send(websocket, hubs.redis, hub, viewer, make_snapshot, since, epoch)
        )
        tasks = {receiver, sender}
        if watch is not None:
            tasks.add(asyncio.create_task(_watch(websocket, watch)))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                raise exc
    finally:
        hubs.leave(hub, viewer)


async def _watch(websocket: WebSocket, watch: Watch) -> None:
    while True:
        await asyncio.sleep(watch.interval)
        closing = await watch.recheck()
        if closing is not None:
            await websocket.close(*closing)
            return


async def _until_closed(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _send_snapshot(websocket: WebSocket, hub: Hub, make: SnapshotMaker) -> int:
    snapshot = await hub.snapshot_for(make)
    epoch = await current_epoch(hub.redis)
    await websocket.send_text(
        f'{{"seq":{snapshot.seq},"epoch":{json.dumps(epoch)},{snapshot.text[1:]}'
    )
    # A reused snapshot can be older than the frames the hub handed out before this viewer
    # joined: send those now, not only when the next change comes (which may be never).
    read = entry_seq(hub.cursor)
    if read > snapshot.seq:
        gap = await missed_since(hub.redis, hub.board, snapshot.seq, read)
        if gap is not None:  # None: trimmed away; the next frame's gap check resyncs
            await websocket.send_text(gap.text)
            return gap.last
    return snapshot.seq


async def _send(
    websocket: WebSocket,
    redis: aioredis.Redis,
    hub: Hub,
    viewer: Viewer,
    make: SnapshotMaker,
    since: int | None,
    epoch: str | None,
) -> None:
    last = await _start(websocket, redis, hub, make, since, epoch)
    while websocket.application_state == WebSocketState.CONNECTED:
        await viewer.wakeup.wait()
        viewer.wakeup.clear()
        if viewer.resync:
            viewer.resync = False
            last = await _send_snapshot(websocket, hub, make)
            continue
        while viewer.frames:
            frame = viewer.frames.popleft()
            if frame.last <= last:
                continue
            if frame.first > last + 1:
                gap = await missed_since(redis, hub.board, last, frame.first - 1)
                if gap is None:
                    last = await _send_snapshot(websocket, hub, make)
                    continue
                if gap.last > last:
                    await websocket.send_text(gap.text)
            await websocket.send_text(frame.text)
            last = frame.last


async def _start(
    websocket: WebSocket,
    redis: aioredis.Redis,
    hub: Hub,
    make: SnapshotMaker,
    since: int | None,
    epoch: str | None,
) -> int:
    """Send what a (re)joining client needs first; return the last sequence number sent."""
    if since is not None and epoch is not None and epoch == await current_epoch(redis):
        missed = await missed_since(redis, hub.board, since)
        if missed is not None:
            await websocket.send_text(missed.text)
            return missed.last
    return await _send_snapshot(websocket, hub, make)
