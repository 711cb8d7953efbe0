"""Benchmark the live county board: many websocket clients while events arrive; prints a table.

    python bench/boards.py [--clients 1000] [--rate 200] [--seconds 20] [--sqlite]

Everything runs on this machine, on loopback only, bounded in time, and is torn down at
the end: a fresh database (PostgreSQL `sipingtai_bench_boards`, dropped after, or with
--sqlite a SQLite file) holding the demo county and users, a private redis-server on a
spare port (database 12), the API under uvicorn (one process) and one RQ worker. The
children's logs are kept in <tmp>/bench-boards-logs/.

Two fan-outs are measured in the same run, with the same clients and the same load:

1. Sipingtai's boards (`/ws/boards/county`): one reader per board per process, deltas
   coalesced into at most ~10 frames a second, each frame encoded once for all clients.
2. Naive baseline: a bare Starlette websocket server (`--serve-naive`, in this file) where
   every client has its own Redis reader and gets one frame per delta as it comes.

Load: --rate reports per second for --seconds, posted on a fixed schedule by the grid
worker (open loop, bench/harness/load.py, over 64 connections). Each report makes at
least two deltas on the county board (reported, then routed). Latency is from the moment
the change was stamped in the service (the delta's `at`, taken as the transaction
commits) to the moment a client has the frame holding it. CPU is the server process's
user+system seconds over the window, per delta delivered to one client and per delta
published.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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
# The delta's own `at` is its last key, right after its steps list.
DELTA_AT = re.compile(rb'\],"at":"([^"]+)"\}')
DELTA_END = b'],"at":"'
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


# ---- Clients (in a child process) ------------------------------------------------------


@dataclass
class ClientSpec:
    """What the client process does."""

    url: str
    clients: int
    measured: int
    # Offered as Sec-WebSocket-Protocol: sipingtai's boards take the token as `bearer, <token>`.
    subprotocols: tuple[str, ...] = ()


def clients_main(conn: Connection, spec: ClientSpec) -> None:
    """Run the websocket clients; report latencies (ms) and counts through the pipe."""
    result = asyncio.run(_clients(conn, spec))
    conn.send(result)
    conn.close()


async def _clients(conn: Connection, spec: ClientSpec) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    latencies: list[float] = []
    counts = {"frames": 0, "delivered": 0, "snapshots": 0, "bytes": 0}
    connected = 0
    stop = asyncio.Event()

    async def one(ready: asyncio.Event, measure: bool) -> None:
        nonlocal connected
        protocols = [Subprotocol(p) for p in spec.subprotocols] or None
        async with connect(spec.url, max_size=None, open_timeout=60, subprotocols=protocols) as ws:
            first = await ws.recv(decode=False)
            assert b'"snapshot"' in first[:300], first[:300]
            connected += 1
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(decode=False), timeout=0.5)
                except TimeoutError:
                    continue
                now = time.time()
                counts["frames"] += 1
                counts["bytes"] += len(raw)
                if b'"type":"snapshot"' in raw[:300]:
                    counts["snapshots"] += 1  # a resync: this client fell behind
                    continue
                # Counting is cheap for every client; parsing stamps only for a sample.
                counts["delivered"] += raw.count(DELTA_END)
                if measure:
                    for stamp in DELTA_AT.findall(raw):
                        at = datetime.fromisoformat(stamp.decode()).timestamp()
                        latencies.append((now - at) * 1000)

    tasks = []
    for start in range(0, spec.clients, CONNECT_BATCH):
        batch = []
        for n in range(start, min(start + CONNECT_BATCH, spec.clients)):
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(one(ready, n < spec.measured)))
            batch.append(ready)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in batch)), timeout=120)
    conn.send(("connected", connected))
    # Measure from the "go" signal: drop whatever arrived while connecting.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    latencies.clear()
    counts.update(frames=0, delivered=0, snapshots=0, bytes=0)
    # Stop when told: the load may take longer than planned when the service falls behind.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "connected": connected, **counts}


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
    published: int
    seconds: float
    intake_rate: float

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
) -> Phase:
    """Connect the clients, post the load, collect what the clients saw."""
    parent, child = multiprocessing.Pipe()
    spec = ClientSpec(ws_url, args.clients, args.measure, protocols)
    process = multiprocessing.Process(target=clients_main, args=(child, spec))
    process.start()
    if not parent.poll(180):
        raise RuntimeError(f"{name}: clients did not connect within 180 s")
    _, connected = parent.recv()
    say(f"{name}: {connected} clients connected; posting {args.rate}/s for {args.seconds} s")
    meter = CpuMeter([CpuGroup("server", lambda: [psutil.Process(server_pid)])])
    before: dict[str, float] = {}

    def go() -> None:
        before.update(seq=county_seq(redis_url), started=time.monotonic())
        meter.start()
        parent.send("go")

    start_at = time.time() + START_DELAY_S
    with at_times((start_at, go)):
        load = post_reports(base, grid, args.rate, args.seconds, start_at)
    posting = time.monotonic() - before["started"]
    time.sleep(args.drain)
    meter.stop()
    window = time.monotonic() - before["started"]
    published = county_seq(redis_url) - int(before["seq"])
    parent.send("stop")
    if not parent.poll(60):
        raise RuntimeError(f"{name}: clients did not report")
    result = parent.recv()
    process.join(timeout=30)
    return Phase(
        name,
        connected,
        load.ok,
        load.sent - load.ok,
        result["frames"],
        result["delivered"],
        result["snapshots"],
        result["bytes"],
        result["latencies"],
        meter.seconds()["server"],
        published,
        window,
        load.ok / posting,
    )


def database(sqlite: bool, work: str) -> AbstractContextManager[str]:
    """Return a context giving a fresh database's URL: a SQLite file in work, or PostgreSQL."""
    return nullcontext(f"sqlite:///{work}/bench.db") if sqlite else scratch_database(DB_NAME)


def print_table(phases: list[Phase], args: Any) -> None:
    """Print the figures side by side."""
    rows = [
        ("clients connected", lambda p: f"{p.connected}"),
        ("reports accepted / failed", lambda p: f"{p.accepted} / {p.failed}"),
        ("reports accepted / s (achieved)", lambda p: f"{p.intake_rate:.0f}"),
        ("measuring window s", lambda p: f"{p.seconds:.1f}"),
        ("deltas published (county)", lambda p: f"{p.published}"),
        ("deltas delivered (all clients)", lambda p: f"{p.delivered}"),
        ("delivered / expected", lambda p: f"{p.delivered_share:.3f}"),
        ("resyncs (snapshots resent)", lambda p: f"{p.snapshots}"),
        ("frames received", lambda p: f"{p.frames}"),
        ("MB/s to all clients", lambda p: f"{p.bytes / p.seconds / 1e6:.1f}"),
        ("frames / s / client", lambda p: f"{p.frames / max(1, p.connected) / p.seconds:.1f}"),
        ("latency samples", lambda p: f"{len(p.latencies)}"),
        ("latency p50 ms", lambda p: f"{percentile(p.latencies, 50):.0f}"),
        ("latency p99 ms", lambda p: f"{percentile(p.latencies, 99):.0f}"),
        ("latency max ms", lambda p: f"{max(p.latencies, default=float('nan')):.0f}"),
        ("server CPU s", lambda p: f"{p.cpu_s:.1f}"),
        ("server CPU µs / delivered delta", lambda p: f"{p.cpu_us_per_delivered:.1f}"),
        ("server CPU ms / published delta", lambda p: f"{p.cpu_s / max(1, p.published) * 1e3:.2f}"),
    ]
    widths = (max(len(r[0]) for r in rows), *(22 for _ in phases))
    print(
        f"\nboards: {args.clients} clients on the county board, {args.rate} reports/s "
        f"for {args.seconds} s ({'SQLite' if args.sqlite else 'PostgreSQL'}); "
        f"latency = change stamped in the service → frame at the client, "
        f"sampled on {args.measure} clients; every client counts what it gets"
    )
    print(row(("", *(p.name for p in phases)), widths, sep="  "))
    for label, value in rows:
        print(row((label, *(value(p) for p in phases)), widths, sep="  "))
    print(
        "(server = the process serving the websockets only; intake and routing run in "
        "other processes in both columns)"
    )


def main() -> int:
    """Run both phases and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait after load")
    parser.add_argument(
        "--measure", type=int, default=50, help="clients that parse every delta's stamp"
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
            ]
            phases = [
                run_phase(name, ws_url, protocols, server.pid, base, grid, redis_url, args)
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
