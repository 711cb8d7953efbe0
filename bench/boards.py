"""Benchmark the live county board: many websocket clients while events arrive; prints a table.

    python bench/boards.py [--clients 1000] [--rate 200] [--seconds 20] [--procs 4] [--naive]
                           [--sqlite]

Everything runs on this machine, on loopback only, bounded in time, and is torn down at
the end: a fresh database (PostgreSQL `sipingtai_bench_boards`, dropped after, or with
--sqlite a SQLite file) holding the demo county and users, a private redis-server on a
spare port (database 12), the API under uvicorn (one process) and one RQ worker. The
children's logs are kept in <tmp>/bench-boards-logs/.

Measured: Sipingtai's boards (`/ws/boards/county`): one reader per board per process, compact
deltas coalesced into at most ~10 frames a second, each frame encoded once for all clients.
With --naive, then, with the same clients and load, a bare Starlette websocket server
(`--serve-naive`, in this file) where every client has its own Redis reader and gets one
frame per delta as it comes.

Clients: --procs processes, each holding its share of the connections on one event loop with
a websocket reader of its own that does the least a client can (frames split by their
header, deltas counted by their `{"seq":` head), so that the server is what is measured;
--measure of the connections also parse every delta's stamp. The clients' own CPU is
printed beside the server's, with the load average: on a shared machine, read both.

Load: --rate reports per second for --seconds, posted on a fixed schedule by the grid worker
(open loop, bench/harness/load.py, over 64 connections); with --direct, their deltas are
published straight to the boards' streams through the same publish script, so that the
fan-out is measured apart from intake's throughput. Each report makes at least two deltas on
the county board (reported, then routed). Latency is from the moment the change was stamped
in the service (the delta's `at`, taken as the transaction commits; with --direct, as it is
published) to the moment a client has read the frame holding it. CPU is the server
process's user+system seconds over the window, per delta delivered to one client and per
delta published.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.cpu import CpuGroup, CpuMeter, at_times
from bench.harness.db import load_demo_database, scratch_database
from bench.harness.http import sign_in
from bench.harness.load import START_DELAY_S, LoadResult, errors, open_loop
from bench.harness.processes import Processes, free_port, say, terminated_by_signals, wait_tcp
from bench.harness.reports import ReportPool
from bench.harness.service import private_redis, service_env, start_api, start_service
from bench.harness.stats import percentile, row
from tests.helpers import demo_grid_point

DB_NAME = "sipingtai_bench_boards"
# The direct publisher's events: ids far above the warm-up's.
DIRECT_IDS = 10_000_000
CONNECT_BATCH = 100
POST_CONNECTIONS = 64
DESCRIPTION = "新市街菜场门口有流动摊贩占道卖菜"
MATTER_CODE = "C-004"


# ---- The naive baseline server ---------------------------------------------------------


def serve_naive(port: int, redis_url: str) -> None:
    """Serve /ws/naive: each client reads the county stream itself, one frame per delta."""
    import redis.asyncio as aioredis
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from dispatch.boards.streams import county_stream, with_seq

    # One blocking reader per client: the pool must hold them all.
    client = aioredis.Redis.from_url(redis_url, max_connections=100_000)

    async def naive(websocket: WebSocket) -> None:
        await websocket.accept()
        cursor = "$"
        await websocket.send_text('{"seq":0,"type":"snapshot","events":[]}')
        while True:
            reply: Any = await client.xread({county_stream(): cursor}, block=1000)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    cursor = entry_id.decode()
                    seq = int(cursor.split("-")[0])
                    text = with_seq(seq, fields[b"d"])
                    await websocket.send_text(f'{{"seq":{seq},"type":"deltas","deltas":[{text}]}}')

    app = Starlette(routes=[WebSocketRoute("/ws/naive", naive)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False)


# ---- Clients (in child processes) -----------------------------------------------------

# A delta's head: `{"seq":N,"type":…,"id":N,"at":"<when stamped>","v":…`; every delta has one.
DELTA_AT = re.compile(rb',"at":"([^"]+)","v":')
DELTA_START = b'{"seq":'
HEAD_PEEK = 300


@dataclass
class ClientSpec:
    """What one client process does: its share of the connections, measured or only counted."""

    host: str
    port: int
    path: str
    clients: int
    measured: int
    # Offered as Sec-WebSocket-Protocol: sipingtai's boards take the token as `bearer, <token>`.
    subprotocols: tuple[str, ...] = ()


class Counts:
    """What one process's connections received, summed."""

    def __init__(self) -> None:
        self.frames = self.delivered = self.snapshots = self.bytes = 0
        self.latencies: list[float] = []
        self.counting = False


class BoardClient(asyncio.Protocol):
    """One websocket, read with the least work: frames split by their header, deltas counted.

    Only a measured connection looks inside a frame, for each delta's stamp. Pings are
    answered; nothing else is sent.
    """

    def __init__(self, counts: Counts, measure: bool, ready: asyncio.Future[None]) -> None:
        self.counts, self.measure, self.ready = counts, measure, ready
        self.buffer = bytearray()
        self.upgraded = False
        self.first = True
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self._fail(bytes(self.buffer[:200]))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x9 and self.transport is not None:  # ping: pong, masked by zeros
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode in (0x1, 0x2):
                self._frame(payload)

    def _frame(self, payload: bytes) -> None:
        counts = self.counts
        if self.first:
            self.first = False
            if b'"snapshot"' not in payload[:HEAD_PEEK]:
                self._fail(payload[:200])
            elif not self.ready.done():
                self.ready.set_result(None)
            return
        if not counts.counting:
            return
        now = time.time()
        counts.frames += 1
        counts.bytes += len(payload)
        if b'"type":"snapshot"' in payload[:HEAD_PEEK]:
            counts.snapshots += 1  # a resync: this client fell behind
            return
        counts.delivered += payload.count(DELTA_START) - 1  # the frame's own seq is one
        if self.measure:
            for stamp in DELTA_AT.findall(payload):
                at = datetime.fromisoformat(stamp.decode()).timestamp()
                counts.latencies.append((now - at) * 1000)

    def _fail(self, what: bytes) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"not a board: {what!r}"))
        if self.transport is not None:
            self.transport.close()


def _handshake(spec: ClientSpec) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    protocols = f"Sec-WebSocket-Protocol: {', '.join(spec.subprotocols)}\r\n"
    return (
        f"GET {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{protocols if spec.subprotocols else ''}\r\n"
    ).encode()


def clients_main(conn: Connection, spec: ClientSpec) -> None:
    """Run one process's websocket clients; report counts, latencies and CPU through the pipe."""
    result = asyncio.run(_clients(conn, spec))
    conn.send(result)
    conn.close()


async def _clients(conn: Connection, spec: ClientSpec) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    counts = Counts()
    transports: list[asyncio.BaseTransport] = []

    async def one(measure: bool) -> None:
        ready: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda: BoardClient(counts, measure, ready), spec.host, spec.port
        )
        transports.append(transport)
        transport.write(_handshake(spec))
        await asyncio.wait_for(ready, timeout=120)

    for start in range(0, spec.clients, CONNECT_BATCH):
        batch = range(start, min(start + CONNECT_BATCH, spec.clients))
        await asyncio.gather(*(one(n < spec.measured) for n in batch))
    conn.send(("connected", len(transports)))
    # Count from the "go" signal: whatever arrived while connecting is not measured.
    await loop.run_in_executor(None, conn.recv)
    counts.counting = True
    cpu_before = time.process_time()
    # Stop when told: the load may take longer than planned when the service falls behind.
    await loop.run_in_executor(None, conn.recv)
    counts.counting = False
    cpu = time.process_time() - cpu_before
    for transport in transports:
        transport.close()
    return {
        "latencies": counts.latencies,
        "connected": len(transports),
        "frames": counts.frames,
        "delivered": counts.delivered,
        "snapshots": counts.snapshots,
        "bytes": counts.bytes,
        "cpu_s": cpu,
    }


# ---- Load and phases -------------------------------------------------------------------


def report_pool() -> ReportPool:
    """Return the one report posted, from eight grids of the demo township."""
    points = [demo_grid_point("320999004", nth=n) for n in range(8)]
    return ReportPool(
        points, [(DESCRIPTION, MATTER_CODE)], [DESCRIPTION], 1.0, urgent_share=0, address_share=0
    )


def post_reports(
    base: str, token: str, rate: float, seconds: float, start_at: float | None = None
) -> LoadResult:
    """Post reports on a fixed schedule (open loop) and say what failed."""
    load = open_loop(
        base, token, report_pool(), seconds=seconds, rate=rate,
        connections=POST_CONNECTIONS, procs=1, seed=7, start_at=start_at,
    )  # fmt: skip
    if load.ok < load.sent:
        say(f"failed reports: {errors(load)}")
    return load


@dataclass
class Published:
    """What the direct publisher did: the same counts as the load generator's."""

    ok: int
    sent: int


def sample_cards(base: str, token: str, redis_url: str) -> list[dict[str, Any]]:
    """Return the routed cards of the warm-up's events, as the county board fetches them."""
    import httpx
    import redis

    from dispatch.boards.streams import county_stream

    entries: Any = redis.Redis.from_url(redis_url).xrange(county_stream())
    ids = sorted({json.loads(fields[b"d"])["id"] for _, fields in entries})
    response = httpx.get(
        f"{base}/api/boards/county/cards",
        params={"ids": ids},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    cards = [c for c in response.json()["cards"] if c["assignments"]]
    if not cards:
        raise RuntimeError("no routed card to publish: the warm-up was not routed")
    return cards


def publish_direct(
    redis_url: str, cards: list[dict[str, Any]], rate: float, seconds: float, start_at: float
) -> Published:
    """Publish a reported and a routed delta per event, at rate events/s, as intake would.

    The messages are those `board_messages` makes for a new event and its routing, through
    the same publish script (the cards compared with those last published), for events with
    ids of their own; the boards' fan-out is then measured apart from intake's throughput.
    """
    import redis

    from dispatch.boards.cards import boards_of, card_change
    from dispatch.boards.streams import BoardKind, BoardMessage, publish

    connection = redis.Redis.from_url(redis_url)
    total = int(rate * seconds)
    done = 0
    while done < total:
        # Every event due by now, in one publish (as a worker publishes a batch it routed).
        due = min(total, int((time.time() - start_at) * rate) + 1)
        messages = []
        for n in range(done, due):
            routed = {**cards[n % len(cards)], "id": DIRECT_IDS + n}
            stamp = datetime.now(UTC).isoformat()
            for card, kind in (
                ({**routed, "status": "reported", "assignments": []}, "reported"),
                (routed, "routed"),
            ):
                boards = tuple(b for b in boards_of(card) if b.kind is not BoardKind.EVENT)
                head = json.dumps(
                    {"type": kind, "id": card["id"], "at": stamp},
                    ensure_ascii=False,
                    separators=(",", ":"),
                )[:-1]
                messages.append(BoardMessage(boards, head, card_change(card)))
        if messages:
            publish(connection, messages)
        done = due
        time.sleep(max(0.0, start_at + done / rate - time.time()))
    return Published(done, total)


@dataclass
class Phase:
    """What one fan-out did under the load."""

    name: str
    connected: int
    accepted: int
    failed: int
    frames: int
    delivered: int
    snapshots: int
    bytes: int
    latencies: list[float]
    cpu_s: float
    clients_cpu_s: float
    published: int
    seconds: float
    intake_rate: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def delivered_share(self) -> float:
        """Return the deltas delivered over those expected (every delta to every client)."""
        return self.delivered / max(1, self.published * self.connected)

    @property
    def cpu_us_per_delivered(self) -> float:
        """Return the server's CPU microseconds per delta delivered to one client."""
        return self.cpu_s / max(1, self.delivered) * 1e6


def county_seq(redis_url: str) -> int:
    """Return the county board's sequence number."""
    import redis

    from dispatch.boards.streams import county_stream, seq_key

    return int(redis.Redis.from_url(redis_url).get(seq_key(county_stream())) or 0)


def run_phase(
    name: str,
    ws_url: str,
    protocols: tuple[str, ...],
    server_pid: int,
    base: str,
    grid: str,
    redis_url: str,
    args: Any,
    cards: list[dict[str, Any]] | None,
) -> Phase:
    """Connect the clients (in --procs processes), post the load, collect what they saw.

    With cards, the deltas are published directly (--direct) instead of posted as reports.
    """
    url = urlsplit(ws_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    pipes, processes = [], []
    for n in range(args.procs):
        share = args.clients // args.procs + (1 if n < args.clients % args.procs else 0)
        measured = args.measure // args.procs + (1 if n < args.measure % args.procs else 0)
        parent, child = multiprocessing.Pipe()
        spec = ClientSpec(host, port, url.path, share, measured, protocols)
        process = multiprocessing.Process(target=clients_main, args=(child, spec), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    connected = 0
    for parent in pipes:
        if not parent.poll(180):
            raise RuntimeError(f"{name}: clients did not connect within 180 s")
        connected += parent.recv()[1]
    say(f"{name}: {connected} clients connected; posting {args.rate}/s for {args.seconds} s")
    meter = CpuMeter([CpuGroup("server", lambda: [psutil.Process(server_pid)])])
    before: dict[str, float] = {}
    load_before = os.getloadavg()

    def go() -> None:
        before.update(seq=county_seq(redis_url), started=time.monotonic())
        meter.start()
        for parent in pipes:
            parent.send("go")

    start_at = time.time() + START_DELAY_S
    with at_times((start_at, go)):
        if cards is not None:
            load: LoadResult | Published = publish_direct(
                redis_url, cards, args.rate, args.seconds, start_at
            )
        else:
            load = post_reports(base, grid, args.rate, args.seconds, start_at)
    posting = time.monotonic() - before["started"]
    time.sleep(args.drain)
    meter.stop()
    window = time.monotonic() - before["started"]
    published = county_seq(redis_url) - int(before["seq"])
    load_after = os.getloadavg()
    for parent in pipes:
        parent.send("stop")
    results = []
    for parent in pipes:
        if not parent.poll(60):
            raise RuntimeError(f"{name}: clients did not report")
        results.append(parent.recv())
    for process in processes:
        process.join(timeout=30)
    return Phase(
        name,
        connected,
        load.ok,
        load.sent - load.ok,
        sum(r["frames"] for r in results),
        sum(r["delivered"] for r in results),
        sum(r["snapshots"] for r in results),
        sum(r["bytes"] for r in results),
        [x for r in results for x in r["latencies"]],
        meter.seconds()["server"],
        sum(r["cpu_s"] for r in results),
        published,
        window,
        load.ok / posting,
        load_before,
        load_after,
    )


def database(sqlite: bool, work: str) -> AbstractContextManager[str]:
    """Return a context giving a fresh database's URL: a SQLite file in work, or PostgreSQL."""
    return nullcontext(f"sqlite:///{work}/bench.db") if sqlite else scratch_database(DB_NAME)


OLD_FIGURES = """\
before (issue 12, commit 62260b4): each delta the whole card (county board: reported 770 B,
  routed 2,589 B, signed 2,619 B; about 1.6 KB per delta, 140 MB/s to 1,000 clients at
  50 reports/s); 1,000 clients at 50/s: every delta arrived, p50 4.5 s: one client process
  (the websockets library, 1,000 connections) saturated, so the clients were measured."""


def print_table(phases: list[Phase], args: Any) -> None:
    """Print the figures side by side."""
    rows = [
        ("clients connected", lambda p: f"{p.connected}"),
        ("reports accepted / failed", lambda p: f"{p.accepted} / {p.failed}"),
        ("reports accepted (or published) / s", lambda p: f"{p.intake_rate:.0f}"),
        ("measuring window s", lambda p: f"{p.seconds:.1f}"),
        ("deltas published (county)", lambda p: f"{p.published}"),
        ("deltas delivered (all clients)", lambda p: f"{p.delivered}"),
        ("delivered / expected", lambda p: f"{p.delivered_share:.3f}"),
        ("resyncs (snapshots resent)", lambda p: f"{p.snapshots}"),
        ("frames received", lambda p: f"{p.frames}"),
        ("MB/s to all clients", lambda p: f"{p.bytes / p.seconds / 1e6:.1f}"),
        (
            "bytes / delivered delta (framing incl.)",
            lambda p: f"{p.bytes / max(1, p.delivered):.0f}",
        ),
        ("frames / s / client", lambda p: f"{p.frames / max(1, p.connected) / p.seconds:.1f}"),
        ("latency samples", lambda p: f"{len(p.latencies)}"),
        ("latency p50 ms", lambda p: f"{percentile(p.latencies, 50):.0f}"),
        ("latency p99 ms", lambda p: f"{percentile(p.latencies, 99):.0f}"),
        ("latency max ms", lambda p: f"{max(p.latencies, default=float('nan')):.0f}"),
        ("server CPU s", lambda p: f"{p.cpu_s:.1f}"),
        ("server CPU µs / delivered delta", lambda p: f"{p.cpu_us_per_delivered:.1f}"),
        ("server CPU ms / published delta", lambda p: f"{p.cpu_s / max(1, p.published) * 1e3:.2f}"),
        ("server CPU, share of one core", lambda p: f"{p.cpu_s / p.seconds:.0%}"),
        (f"client CPU s ({args.procs} processes)", lambda p: f"{p.clients_cpu_s:.1f}"),
        ("client CPU, share of one core", lambda p: f"{p.clients_cpu_s / p.seconds:.0%}"),
        (
            "load average before / after (1 min)",
            lambda p: f"{p.load_before[0]:.1f} / {p.load_after[0]:.1f}",
        ),
    ]
    widths = (max(len(r[0]) for r in rows), *(22 for _ in phases))
    print(
        f"\nboards: {args.clients} clients on the county board, {args.rate} reports/s "
        f"for {args.seconds} s ({'SQLite' if args.sqlite else 'PostgreSQL'}"
        f"{'; deltas published directly, not through intake' if args.direct else ''}); "
        f"latency = change stamped in the service → frame at the client, "
        f"sampled on {args.measure} clients; every client counts what it gets"
    )
    print(row(("", *(p.name for p in phases)), widths, sep="  "))
    for label, value in rows:
        print(row((label, *(value(p) for p in phases)), widths, sep="  "))
    print(
        "(server = the process serving the websockets only; intake and routing run in "
        "other processes; clients = the client processes, each many connections that split "
        "frames by their header and count deltas; only the sampled ones parse stamps)"
    )
    print(OLD_FIGURES)


def main() -> int:
    """Run both phases and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait after load")
    parser.add_argument(
        "--measure", type=int, default=40, help="clients that parse every delta's stamp"
    )
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument(
        "--naive", action="store_true", help="also measure the naive per-client reader"
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="publish the deltas of --rate events/s straight to the boards, not through intake",
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--serve-naive", nargs=2, metavar=("PORT", "REDIS_URL"))
    args = parser.parse_args()
    if args.serve_naive:
        serve_naive(int(args.serve_naive[0]), args.serve_naive[1])
        return 0
    logs = Path(tempfile.gettempdir()) / "bench-boards-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    try:
        with (
            terminated_by_signals(),
            tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp,
            database(args.sqlite, tmp) as url,
            Processes(logs) as processes,
        ):
            load_demo_database(url)
            work = Path(tmp)
            redis_url = private_redis(processes, work)
            env = service_env(url, redis_url, work)
            service = start_service(processes, env, workers=1, scheduler=False)
            # The boards are served by a second API process, so its CPU is the fan-out's
            # alone (intake goes to the first): several API processes share one Redis.
            boards_base, boards_api = start_api(processes, env, "boards-api")
            base = service.base
            centre, grid = sign_in(base, "centre"), sign_in(base, "grid")
            say("warming up: the index, the list and the calendar load on first use")
            post_reports(base, grid, rate=5, seconds=2)
            cards = sample_cards(base, centre, redis_url) if args.direct else None
            naive_port = free_port()
            naive_argv = [sys.executable, __file__, "--serve-naive", str(naive_port), redis_url]
            naive = processes.start("naive", naive_argv, env)
            wait_tcp(naive_port)
            ws_boards = boards_base.replace("http://", "ws://")
            fan_outs = [
                (
                    "sipingtai boards",
                    f"{ws_boards}/ws/boards/county",
                    ("bearer", centre),
                    boards_api,
                ),
                ("naive per-client", f"ws://127.0.0.1:{naive_port}/ws/naive", (), naive),
            ][: 2 if args.naive else 1]
            phases = [
                run_phase(name, ws_url, protocols, server.pid, base, grid, redis_url, args, cards)
                for name, ws_url, protocols, server in fan_outs
            ]
            print_table(phases, args)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        say(f"the children's output: {logs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
