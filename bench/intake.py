"""Benchmark event intake end to end over HTTP on PostgreSQL; prints a table.

    python bench/intake.py [--duration 60] [--rate 500] [--workers 2] [--quick]
                           [--api-procs 1] [--clients 32] [--gen-procs 1] [--profile]

Everything runs on this machine, on loopback only, and is torn down at the end (also on
Ctrl-C or failure): a fresh PostgreSQL database `sipingtai_bench_intake` (migrated, the
demo county and demo users loaded, dropped at the end), one Redis database (flushed
before and after; 14 unless --redis-db), the API under uvicorn, N RQ workers
(`python -m service.cli worker`) and the sweeper (`python -m service.cli scheduler`).

The load generator is asyncio + httpx in --gen-procs child processes, each task with its
own one-connection client (httpcore scans its whole pool on every request, so one big
pool costs O(connections) per request). Reports are realistic: a random point inside a
random demo grid, a hand-written description, the matter code for most, some urgent,
some with an address, all under one grid worker's bearer token.

Phases, in this order:

0. Generator ceiling: the same generator against a canned-response server (no
   framework at all), so the figures below can be read against what the client can do.
1. Bare baseline: a FastAPI app that only validates the EventCreate body and answers
   201 (bench/_bare_app.py), served with the same uvicorn settings, hit by the same
   closed and open loops.
2. Light load (--light-rate, default 50/s, open loop): the latencies below without
   queueing, so fixed costs can be told from overload.
3. Phase A (sustained, closed loop): --clients concurrent clients post as fast as
   answers come back for --duration seconds. Accepted POSTs/s, and events routed end to
   end per second: events with status dispatched/needs_triage whose routed_at falls in
   the window, counted in the database; the backlog (still `reported`) at the end. CPU
   seconds per process group are sampled over the window.
4. With --profile: a short closed-loop run with py-spy recording the API (only while a
   thread holds the GIL) and one worker (with its job horses); raw stacks are kept and
   summarised (self time by package, top functions by self and cumulative share).
5. Phase B (latency, open loop): --rate reports/s for --latency-seconds, sent on a
   fixed schedule over --connections connections whatever the answers do (after waiting,
   bounded, for the backlog to drain). POST latency is measured from the scheduled send
   time, so a generator or server falling behind shows up in it; an answer later than
   10 s, or none, counts as never. POST -> lead assignment comes two ways: from the
   database (Assignment.created_at - Event.received_at, both stamped by the service:
   when routing of the batch started) and as observed (a poller reads new assignments
   every 50 ms; first time seen, i.e. committed, minus the scheduled send time). Events
   sent to triage get no lead by design and are left out. Last, because overload may
   leave the API stalled; how long it took to answer again is printed.

The machine has few cores and everything (generator, API, workers, PostgreSQL, Redis)
shares them, so read every figure with the CPU table printed beside it. Figures only:
nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import multiprocessing as mp
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_NAME = "sipingtai_bench_intake"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_BENCH = f"host=127.0.0.1 port=5432 user=postgres dbname={DB_NAME} connect_timeout=3"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
REPORTER = "grid"
TARGET_SUSTAINED = 1000.0  # events/s end to end
TARGET_RATE = 500.0  # events/s offered ...
TARGET_P99_S = 1.0  # ... with p99 POST -> lead assignment within this
HTTP_TIMEOUT_S = 30.0
# Open loop: an answer later than this counts as never (the targets are about one second).
OPEN_LOOP_TIMEOUT_S = 10.0
RECOVERY_WAIT_S = 30.0
POLL_INTERVAL_S = 0.05
# Spawned generator processes import httpx and build their clients before the start.
START_DELAY_S = 1.5


# ---- Subprocesses ------------------------------------------------------------------------


class Processes:
    """Subprocesses this run started, each in its own process group; all stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a process with its output in <log_dir>/<name>.log."""
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        """Stop one process group: SIGTERM, then SIGKILL after the grace period."""
        _signal_group(process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        _signal_group(process, signal.SIGKILL)  # stragglers: uvicorn children, RQ horses
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        """Stop every process still known, newest first."""
        for _, process in reversed(list(self.running)):
            self.stop(process)

    def tail(self, name: str, lines: int = 20) -> str:
        """Return the end of a process's log."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group of this process only (start_new_session)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def uvicorn_argv(target: str, port: int, procs: int, app_dir: Path) -> list[str]:
    """Return the uvicorn command line shared by the real and the bare app."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        target,
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(procs),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Wait until GET url answers 200, failing if the process dies first."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.2)


# ---- Database and Redis -------------------------------------------------------------------


def create_database() -> None:
    """Create the bench database, dropping a leftover one first."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    """Drop the bench database, disconnecting whoever is still on it."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def prepare_database(env: dict[str, str]) -> list[str]:
    """Migrate, load the demo county and users; return the matter codes of the list in force."""
    subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [sys.executable, "-m", "service.cli", "demo", "load"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from dispatch.core.clock import utcnow
    from dispatch.core.db import make_engine, session_scope
    from dispatch.reference.jurisdictions import choose_county
    from dispatch.reference.lists.versions import list_in_force, load_rules
    from dispatch.users.service import ensure_demo_users

    engine = make_engine(DATABASE_URL)
    try:
        with session_scope(engine) as session:
            ensure_demo_users(session)
            county = choose_county(session, None)
            assert county is not None, "the demo county did not load"
            in_force = list_in_force(session, county, utcnow())
            assert in_force is not None and in_force.id is not None, "no matter list in force"
            return [m.code for m in load_rules(session, in_force.id).matters]
    finally:
        engine.dispose()


def flush_redis(url: str) -> None:
    """Empty the bench's own Redis database (never another one)."""
    from dispatch.core.redis import connect

    connection = connect(url)
    try:
        connection.flushdb()
    finally:
        connection.close()


def pending_in_redis(url: str) -> tuple[int, int]:
    """Return how many ids wait in the routing hand-off set, and how many delivery jobs wait."""
    from rq import Queue

    from dispatch.core.queues import DELIVERY_QUEUE, PENDING_KEY
    from dispatch.core.redis import connect

    connection = connect(url)
    try:
        return int(connection.scard(PENDING_KEY)), Queue(
            DELIVERY_QUEUE, connection=connection
        ).count
    finally:
        connection.close()


def query(sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run one read query on the bench database."""
    with psycopg.connect(PG_BENCH, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def waiting_count() -> int:
    """Return how many events are still waiting for routing."""
    return int(query("SELECT count(*) FROM event WHERE status = 'reported'")[0][0])


def wait_routed(timeout_s: float) -> int:
    """Wait until no event waits for routing or the time is up; return how many still wait."""
    deadline = time.monotonic() + timeout_s
    while (left := waiting_count()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


class LeadPoller:
    """Record when each event's lead assignment first becomes visible (committed).

    Assignment ids are taken at insert but become visible at commit, so a transaction
    that commits late leaves a gap below ids already seen. The poller keeps a floor
    below which every id has been seen and reads everything above it each time; a gap
    still open after GAP_GIVE_UP_S is taken for a rolled-back id and skipped.
    """

    GAP_GIVE_UP_S = 30.0

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lead-poller")

    def __enter__(self) -> LeadPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with psycopg.connect(PG_BENCH, autocommit=True) as conn:
                row = conn.execute("SELECT coalesce(max(id), 0) FROM assignment").fetchone()
                floor = int(row[0]) if row else 0
                above: set[int] = set()  # ids above the floor already seen
                gap_since: dict[int, float] = {}
                while not self._stop.is_set():
                    rows = conn.execute(
                        "SELECT id, event_id, role FROM assignment WHERE id > %s ORDER BY id",
                        (floor,),
                    ).fetchall()
                    now = time.time()
                    for assignment_id, event_id, role in rows:
                        if assignment_id not in above:
                            above.add(assignment_id)
                            if role == "lead":
                                self.seen.setdefault(event_id, now)
                    while above:
                        if floor + 1 in above:
                            floor += 1
                            above.discard(floor)
                        elif now - gap_since.setdefault(floor + 1, now) > self.GAP_GIVE_UP_S:
                            floor += 1
                        else:
                            break
                    self._stop.wait(POLL_INTERVAL_S)
        except BaseException as exc:  # reported by the caller
            self.error = exc


# ---- Reports to send ---------------------------------------------------------------------


def grid_points(count: int, seed: int) -> list[tuple[float, float]]:
    """Return random points strictly inside random demo grids."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    from dispatch.demo import demo_file

    grids = json.loads(demo_file("grids.geojson").read_text(encoding="utf-8"))["features"]
    polygons = [shape(f["geometry"]) for f in grids]
    rng = np.random.default_rng(seed)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        polygon = polygons[int(rng.integers(len(polygons)))]
        x0, y0, x1, y1 = polygon.bounds
        xs, ys = rng.uniform(x0, x1, 32), rng.uniform(y0, y1, 32)
        inside = shapely.contains_xy(polygon, xs, ys)
        points.extend((float(x), float(y)) for x, y in zip(xs[inside], ys[inside], strict=True))
    return points[:count]


def labelled_descriptions() -> list[tuple[str, str]]:
    """Return the demo's hand-written (description, matter code) pairs."""
    from dispatch.demo import demo_file

    with demo_file("labelled_descriptions.csv").open(encoding="utf-8-sig", newline="") as handle:
        return [(r["description"], r["matter_code"].strip()) for r in csv.DictReader(handle)]


@dataclass(frozen=True)
class ReportPool:
    """What generators draw reports from."""

    points: list[tuple[float, float]]
    coded: list[tuple[str, str]]  # (description, matter code in force)
    uncoded: list[str]  # descriptions to send without a matter code
    coded_share: float = 0.85
    urgent_share: float = 0.05
    address_share: float = 0.3


ADDRESSES = (
    "东村三组",
    "建设路 18 号",
    "新市镇农贸市场北门",
    "翠园小区 5 栋",
    "清河大道与人民路口",
)


def report_body(pool: ReportPool, rng: random.Random) -> bytes:
    """Return one report as JSON bytes, with a fresh client id."""
    lon, lat = rng.choice(pool.points)
    body: dict[str, object] = {
        "client_id": str(uuid.uuid4()),
        "reported_at": datetime.now(UTC).isoformat(),
        "lon": lon,
        "lat": lat,
        "source": "grid",
    }
    if rng.random() < pool.coded_share:
        body["description"], body["matter_code"] = rng.choice(pool.coded)
    else:
        body["description"] = rng.choice(pool.uncoded)
    if rng.random() < pool.urgent_share:
        body["urgency"] = "urgent"
    if rng.random() < pool.address_share:
        body["address"] = rng.choice(ADDRESSES)
    return json.dumps(body, ensure_ascii=False).encode()


# ---- Load generator (runs in child processes) ----------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    """What one generator process does."""

    base_url: str
    token: str | None
    pool: ReportPool
    mode: str  # "closed" or "open"
    start_at: float  # wall clock, shared by all generator processes
    seconds: float
    clients: int  # closed: concurrent clients; open: connections
    rate: float = 0.0  # open: requests/s from this process
    offset_s: float = 0.0  # open: this process's phase within the schedule
    seed: int = 0
    record_ids: bool = False
    timeout_s: float = HTTP_TIMEOUT_S


@dataclass
class LoadResult:
    """What one generator process saw."""

    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    ok_in_window: int = 0
    latencies: list[float] = field(default_factory=list)  # 2xx only, seconds
    # open loop with record_ids: (event id, scheduled wall time) for every 201
    ids: list[tuple[int, float]] = field(default_factory=list)
    lag_max_s: float = 0.0  # open loop: worst delay between schedule and send
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def ok(self) -> int:
        """Return how many requests were answered 2xx."""
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    def post_latencies(self) -> list[float]:
        """Return every request's latency, inf for those refused, failed or timed out."""
        return self.latencies + [math.inf] * (self.sent - self.ok)


def _quiet_sniffio() -> None:
    # httpcore tries `import sniffio` on every request; without sniffio installed each
    # attempt searches sys.path. A None entry makes the failure immediate, same outcome.
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def generator_main(conn: Connection, spec: LoadSpec) -> None:
    """Run one generator process and send back its LoadResult."""
    _quiet_sniffio()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    import uvloop

    conn.send(uvloop.run(_generate(spec)))
    conn.close()


async def _generate(spec: LoadSpec) -> LoadResult:
    import httpx

    rng = random.Random(spec.seed)
    context = ssl.create_default_context()  # one for all clients: each would load the CA file
    headers = {"content-type": "application/json"}
    if spec.token:
        headers["authorization"] = f"Bearer {spec.token}"
    clients = [
        httpx.AsyncClient(
            base_url=spec.base_url,
            headers=headers,
            verify=context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(spec.timeout_s),
        )
        for _ in range(spec.clients)
    ]
    result = LoadResult()
    stop_at = spec.start_at + spec.seconds

    async def post(client: httpx.AsyncClient, t0: float) -> None:
        result.sent += 1
        try:
            response = await client.post("/api/events", content=report_body(spec.pool, rng))
        except httpx.HTTPError as exc:
            result.statuses[type(exc).__name__] += 1
            return
        done = time.time()
        result.statuses[str(response.status_code)] += 1
        if response.status_code // 100 != 2:
            return
        result.latencies.append(done - t0)
        if done <= stop_at:
            result.ok_in_window += 1
        if spec.record_ids and response.status_code == 201:
            result.ids.append((int(response.json()["id"]), t0))

    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    cpu0, wall0 = time.process_time(), time.time()
    if spec.mode == "closed":

        async def closed(client: httpx.AsyncClient) -> None:
            while (t0 := time.time()) < stop_at:
                await post(client, t0)

        await asyncio.gather(*(closed(c) for c in clients))
    else:
        interval = 1.0 / spec.rate
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while True:
            due = spec.start_at + spec.offset_s + n * interval
            if due >= stop_at:
                break
            now = time.time()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            result.lag_max_s = max(result.lag_max_s, now - due)
            task = asyncio.create_task(post(clients[n % len(clients)], due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=spec.timeout_s + 2)
            for task in late:  # counted as sent but unanswered
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    result.cpu_s, result.wall_s = time.process_time() - cpu0, time.time() - wall0
    await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    return result


def run_load(specs: list[LoadSpec]) -> tuple[LoadResult, list[LoadResult]]:
    """Run the generator processes to the end; return the merged result and each one's."""
    context = mp.get_context("spawn")
    children = []
    try:
        for spec in specs:
            parent_end, child_end = context.Pipe(duplex=False)
            process = context.Process(target=generator_main, args=(child_end, spec), daemon=True)
            process.start()
            child_end.close()
            children.append((process, parent_end))
        limit = max(s.start_at + s.seconds + s.timeout_s for s in specs) - time.time() + 30
        results = []
        for process, pipe in children:
            if not pipe.poll(max(limit, 1.0)):
                raise RuntimeError("a generator process did not report in time")
            results.append(pipe.recv())
            process.join(timeout=10)
    finally:
        for process, _ in children:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    merged = LoadResult()
    for r in results:
        merged.sent += r.sent
        merged.statuses.update(r.statuses)
        merged.ok_in_window += r.ok_in_window
        merged.latencies.extend(r.latencies)
        merged.ids.extend(r.ids)
        merged.lag_max_s = max(merged.lag_max_s, r.lag_max_s)
        merged.cpu_s += r.cpu_s
        merged.wall_s = max(merged.wall_s, r.wall_s)
    return merged, results


def closed_loop(
    base_url: str,
    token: str | None,
    pool: ReportPool,
    *,
    seconds: float,
    clients: int,
    procs: int,
    seed: int,
    start_at: float | None = None,
) -> LoadResult:
    """Post as fast as answers come back, from `clients` clients spread over `procs` processes."""
    start_at = start_at or time.time() + START_DELAY_S
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    specs = [
        LoadSpec(base_url, token, pool, "closed", start_at, seconds, n, seed=seed + i)
        for i, n in enumerate(shares)
        if n
    ]
    return run_load(specs)[0]


def open_loop(
    base_url: str,
    token: str | None,
    pool: ReportPool,
    *,
    seconds: float,
    rate: float,
    connections: int,
    procs: int,
    seed: int,
    record_ids: bool = False,
    start_at: float | None = None,
) -> LoadResult:
    """Send `rate` reports/s on a fixed schedule, whatever the answers do."""
    start_at = start_at or time.time() + START_DELAY_S
    specs = [
        LoadSpec(
            base_url,
            token,
            pool,
            "open",
            start_at,
            seconds,
            max(1, connections // procs),
            rate=rate / procs,
            offset_s=i / rate,
            seed=seed + i,
            record_ids=record_ids,
            timeout_s=OPEN_LOOP_TIMEOUT_S,
        )
        for i in range(procs)
    ]
    return run_load(specs)[0]


# ---- The canned server (for the generator's ceiling) -----------------------------------------

CANNED = (
    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
    b'{"id":1234}'
)


def canned_server_main(port: int) -> None:
    """Answer every request with a fixed 201 (a server that costs next to nothing)."""
    import uvloop

    class Canned(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                length = 0
                for line in self.buffer[:end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                self.transport.write(CANNED)  # type: ignore[attr-defined]

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


# ---- CPU accounting ------------------------------------------------------------------------


@dataclass
class CpuGroup:
    """A named set of processes whose CPU seconds are summed."""

    name: str
    find: Callable[[], list[psutil.Process]]
    with_reaped_children: bool = False
    detail_of_previous: bool = False  # shown, but already counted in the group above


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(processes: list[psutil.Process], reaped: bool) -> dict[tuple[int, float], float]:
    """Return CPU seconds so far per process (keyed by pid and start time)."""
    seconds = {}
    for p in processes:
        with suppress(psutil.Error):
            t = p.cpu_times()
            used = t.user + t.system
            if reaped:
                used += t.children_user + t.children_system
            seconds[(p.pid, p.create_time())] = used
    return seconds


def postgres_backends() -> list[psutil.Process]:
    """Return the PostgreSQL backends connected to the bench database."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["name"] == "postgres" and f" {DB_NAME} " in f" {cmd} ":
            found.append(p)
    return found


def postgres_server() -> list[psutil.Process]:
    """Return the whole PostgreSQL server: the postmaster (with its reaped backends) and all."""
    for p in psutil.process_iter(["name"]):
        with suppress(psutil.Error):
            if p.info["name"] == "postgres" and p.parent().name() != "postgres":
                return _tree(p.pid)
    return []


def redis_server() -> list[psutil.Process]:
    """Return the redis-server processes (shared with whoever else uses this Redis)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]


class CpuMeter:
    """CPU seconds per group, and machine-wide, between start() and stop()."""

    def __init__(self, groups: list[CpuGroup]) -> None:
        self.groups = groups
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}

    def _sample(self) -> dict[str, Any]:
        times = psutil.cpu_times()
        return {
            "groups": {g.name: _cpu(g.find(), g.with_reaped_children) for g in self.groups},
            "busy": sum(times) - times.idle - getattr(times, "iowait", 0.0),
            "wall": time.monotonic(),
        }

    def start(self) -> None:
        """Take the first sample."""
        self.before = self._sample()

    def stop(self) -> None:
        """Take the second sample."""
        self.after = self._sample()

    @contextmanager
    def window(self, start_at: float, seconds: float) -> Iterator[None]:
        """Sample at the wall-clock start_at and start_at + seconds, around the body."""
        timers = [
            threading.Timer(max(0.0, t - time.time()), action)
            for t, action in ((start_at, self.start), (start_at + seconds, self.stop))
        ]
        for timer in timers:
            timer.start()
        try:
            yield
        finally:
            for timer in timers:
                timer.join()

    def shares(self) -> dict[str, float]:
        """Return each group's share of one core between the samples, the machine's too.

        A process that exited between the samples is lost (except children reaped by a
        process of the group); one that started in between counts from its start.
        """
        wall = self.after["wall"] - self.before["wall"]
        shares = {}
        counted = 0.0
        for group in self.groups:
            before = self.before["groups"][group.name]
            used = sum(
                max(0.0, s - before.get(key, 0.0))
                for key, s in self.after["groups"][group.name].items()
            )
            shares[group.name] = used / wall
            if not group.detail_of_previous:
                counted += used / wall
        shares["_counted"] = counted
        shares["machine busy"] = (self.after["busy"] - self.before["busy"]) / wall
        return shares


# ---- Profiles -----------------------------------------------------------------------------


def py_spy() -> str | None:
    """Return the py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(REPO)):
        return path[len(str(REPO)) + 1 :].split("/", 1)[0]
    if "/lib/python3" in path:
        return "stdlib"
    return path.rsplit("/", 1)[-1] or "?"


def _short(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(str(REPO)):
        path = path[len(str(REPO)) + 1 :]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return f"{name} ({path})"


def summarise_profile(raw: Path, top: int = 15) -> str:
    """Summarise py-spy raw (collapsed) stacks: self time by package, top functions."""
    self_fn: Counter[str] = Counter()
    cum_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f.endswith(")") and " (" in f and ":" in f]
        if not frames:
            continue
        total += n
        leaf = frames[-1]
        self_fn[_short(leaf)] += n
        self_pkg[_package(leaf.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0])] += n
        for name in {_short(f) for f in frames}:
            cum_fn[name] += n
    if not total:
        return "    (no samples)"
    out = [f"    {total} samples; self time by package:"]
    out += [f"      {n / total:6.1%}  {p}" for p, n in self_pkg.most_common(10)]
    out.append("    top functions by self time:")
    out += [f"      {n / total:6.1%}  {f}" for f, n in self_fn.most_common(top)]
    out.append("    top functions by cumulative time (project code and the libraries it calls):")
    skip = (
        "asyncio/",
        "threading.py",
        "concurrent/futures",
        "uvloop",
        "<module>",
        "runpy.py",
        "multiprocessing/",
        "click/",
        "typer/",
        "rq/cli",
        "uvicorn/main",
        "uvicorn/server",
        "uvicorn/supervisors",
        "uvicorn/_subprocess",
        "contextvars",
        "anyio/_backends",
        "anyio/to_thread",
        "rq/worker",
        "rq/job.py",
    )
    picked = [(f, n) for f, n in cum_fn.most_common() if not any(s in f for s in skip)]
    out += [f"      {n / total:6.1%}  {f}" for f, n in picked[:top]]
    return "\n".join(out)


# ---- Statistics and the table --------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank percentile; inf entries stand for never."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(value: float) -> str:
    """Format seconds as milliseconds (or 'never' / 'n/a')."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def rate(value: float) -> str:
    """Format a rate."""
    return "n/a" if math.isnan(value) else f"{value:,.0f}/s"


def errors(result: LoadResult) -> str:
    """Name the non-2xx outcomes, or say there were none."""
    bad = {k: v for k, v in result.statuses.items() if not k.startswith("2")}
    if abandoned := result.sent - sum(result.statuses.values()):
        bad["unanswered at the end"] = abandoned
    return ", ".join(f"{k}×{v}" for k, v in sorted(bad.items())) or "none"


@dataclass
class LatencyPhase:
    """Latency at a fixed offered rate (open loop)."""

    rate: float
    load: LoadResult
    seconds: float
    db_lead: list[float]  # created_at - received_at; inf for never
    seen_lead: list[float]  # first seen by the poller - scheduled send; inf for never
    triaged: int
    not_routed: int
    waited_s: float
    backlog_start: int = 0
    recovery_s: float = 0.0  # after the run, until the API answered a health check again
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass
class SustainedPhase:
    """Sustained throughput in a closed loop."""

    load: LoadResult
    seconds: float
    routed: int
    dispatched: int
    triaged: int
    received: int
    backlog_start: int
    backlog_end: int
    pending_end: int
    deliveries_end: int  # delivery jobs waiting in their RQ queue
    cpu: dict[str, float]


# ---- Orchestration -------------------------------------------------------------------------


@contextmanager
def terminated_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so cleanup runs."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def sign_in(base_url: str) -> str:
    """Return a bearer token for the reporting grid worker."""
    import httpx

    from dispatch.users.service import DEMO_PASSWORD

    response = httpx.post(
        f"{base_url}/api/auth/token",
        data={"username": REPORTER, "password": DEMO_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def lead_latencies(
    load: LoadResult, seen: dict[int, float]
) -> tuple[list[float], list[float], int, int]:
    """Return DB-stamped and observed POST -> lead latencies, and triaged / unrouted counts.

    A report that was not accepted (error or timeout) never got a lead: it counts as inf.
    Events sent to triage get no lead by design and are left out.
    """
    rows = query(
        "SELECT e.id, e.status, extract(epoch FROM a.created_at - e.received_at) "
        "FROM event e LEFT JOIN assignment a ON a.event_id = e.id AND a.role = 'lead' "
        "WHERE e.id = ANY(%s)",
        [i for i, _ in load.ids],
    )
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    never = [math.inf] * (load.sent - len(load.ids))
    db, observed = list(never), list(never)
    triaged = not_routed = 0
    for event_id, t0 in load.ids:
        status, delta = by_id.get(event_id, ("missing", None))
        if status == "needs_triage":
            triaged += 1
            continue
        if delta is None:
            not_routed += 1
            db.append(math.inf)
            observed.append(math.inf)
            continue
        db.append(float(delta))
        observed.append(seen[event_id] - t0 if event_id in seen else math.inf)
    return db, observed, triaged, not_routed


def cpu_groups(
    api: subprocess.Popen[bytes],
    workers: list[subprocess.Popen[bytes]],
    scheduler: subprocess.Popen[bytes],
) -> list[CpuGroup]:
    """Return the process groups whose CPU is worth showing."""
    return [
        CpuGroup("API (uvicorn)", lambda: _tree(api.pid)),
        CpuGroup(
            f"RQ workers ×{len(workers)} (incl. job horses)",
            lambda: [p for w in workers for p in _tree(w.pid)],
            with_reaped_children=True,
        ),
        CpuGroup("scheduler (sweeper)", lambda: _tree(scheduler.pid)),
        CpuGroup(
            "PostgreSQL, whole server (shared; incl. exited backends)",
            postgres_server,
            with_reaped_children=True,
        ),
        CpuGroup(
            f"  of which live backends on {DB_NAME}", postgres_backends, detail_of_previous=True
        ),
        CpuGroup("redis-server (shared)", redis_server),
        CpuGroup("bench process (sampling)", lambda: [psutil.Process()]),
    ]


def tree_state() -> str:
    """Describe the commit measured and whether the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.rstrip("\n")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    if not changed:
        return f"commit {head}, clean tree"
    return f"commit {head} + {len(changed)} uncommitted path(s): {', '.join(sorted(changed))}"


@dataclass
class Config:
    """The run's knobs, after --quick."""

    duration: float
    rate: float
    light_rate: float
    workers: int
    api_procs: int
    clients: int
    connections: int
    gen_procs: int
    latency_seconds: float
    light_seconds: float
    baseline_seconds: float
    ceiling_seconds: float
    drain_wait: float
    profile_seconds: float
    redis_url: str
    profile: bool
    quick: bool


def parse_args(argv: list[str] | None = None) -> Config:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="Phase A seconds")
    parser.add_argument("--rate", type=float, default=500.0, help="Phase B offered reports/s")
    parser.add_argument(
        "--light-rate",
        type=float,
        default=50.0,
        help="offered reports/s of the light-load latency run (0: skip)",
    )
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--api-procs", type=int, default=2, help="uvicorn --workers")
    parser.add_argument("--clients", type=int, default=32, help="closed-loop concurrency")
    parser.add_argument(
        "--connections",
        type=int,
        default=128,
        help="open-loop connections (the concurrency the server may see)",
    )
    parser.add_argument("--gen-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="Phase B seconds")
    parser.add_argument("--redis-db", type=int, default=14, help="Redis database to use")
    parser.add_argument("--profile", action="store_true", help="record py-spy profiles")
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase")
    a = parser.parse_args(argv)
    if a.redis_db == 0:
        parser.error("--redis-db 0 is everybody's default database; pick another")
    quick = a.quick
    return Config(
        duration=4.0 if quick else a.duration,
        rate=a.rate,
        light_rate=a.light_rate,
        workers=a.workers,
        api_procs=a.api_procs,
        clients=a.clients,
        connections=a.connections,
        gen_procs=a.gen_procs,
        latency_seconds=3.0 if quick else a.latency_seconds,
        light_seconds=3.0 if quick else 10.0,
        baseline_seconds=2.0 if quick else 8.0,
        ceiling_seconds=2.0 if quick else 5.0,
        drain_wait=10.0 if quick else 20.0,
        profile_seconds=4.0 if quick else 15.0,
        redis_url=f"redis://127.0.0.1:6379/{a.redis_db}",
        profile=a.profile,
        quick=quick,
    )


def say(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every phase and print the table; clean up whatever happens."""
    config = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sipingtai-bench-intake-"))
    processes = Processes(work)
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": config.redis_url,
        "SIPINGTAI_DATA_DIR": str(work / "data"),
        "SIPINGTAI_SECRET_KEY": secrets.token_urlsafe(48),
        "PYTHONUNBUFFERED": "1",
    }
    say(f"logs and profiles in {work}")
    database_created = False
    try:
        with terminated_by_signals():
            create_database()
            database_created = True
            flush_redis(config.redis_url)
            return run(config, env, processes, work)
    except KeyboardInterrupt:
        say("interrupted; cleaning up")
        return 130
    except Exception:
        for name, _ in processes.running:
            if tail := processes.tail(name):
                say(f"--- end of {name}.log ---\n{tail}")
        raise
    finally:
        processes.stop_all()
        with suppress(Exception):
            flush_redis(config.redis_url)
        if database_created:
            with suppress(Exception):
                drop_database()
        say("stopped every process; database dropped; Redis database flushed")


@dataclass
class Results:
    """Everything the report prints."""

    tree: str
    ceiling: LoadResult
    bare_closed: LoadResult
    bare_open: LoadResult
    light: LatencyPhase | None
    b: LatencyPhase
    a: SustainedPhase
    profiles: dict[str, str]


def run(config: Config, env: dict[str, str], processes: Processes, work: Path) -> int:
    """Run the phases and print the report."""
    tree = tree_state()
    say(f"preparing {DB_NAME}: migrate, demo county, demo users")
    codes = set(prepare_database(env))
    labelled = labelled_descriptions()
    pool = ReportPool(
        points=grid_points(4000, seed=7),
        coded=[(d, c) for d, c in labelled if c in codes],
        uncoded=[d for d, _ in labelled],
    )
    ceiling = measure_ceiling(config, pool)
    bare_closed, bare_open = measure_bare(config, env, processes, pool)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.start(
        "api", uvicorn_argv("service.app:create_app", port, config.api_procs, REPO), env
    )
    workers = [
        processes.start(f"worker-{i}", [sys.executable, "-m", "service.cli", "worker"], env)
        for i in range(config.workers)
    ]
    scheduler = processes.start(
        "scheduler", [sys.executable, "-m", "service.cli", "scheduler"], env
    )
    wait_http(f"{base}/api/health", api)
    token = sign_in(base)
    say("system: warm-up (routers built in every API process)")
    warm = closed_loop(base, token, pool, seconds=3.0, clients=config.clients, procs=1, seed=5)
    if not warm.statuses.get("201"):
        raise RuntimeError(f"warm-up reports were refused: {dict(warm.statuses)}; see {work}")
    if left := wait_routed(30.0):
        say(f"warning: {left} warm-up events still wait for routing; the first phase starts anyway")

    groups = cpu_groups(api, workers, scheduler)
    light = None
    if config.light_rate > 0:
        light = latency_phase(
            config, base, token, pool, config.light_rate, config.light_seconds, groups
        )
    a = sustained_phase(config, base, token, pool, groups)
    profiles = {}
    if config.profile:
        profiles = profile(config, processes, work, base, token, pool, api, workers[0])
    say(f"waiting up to {config.drain_wait:.0f} s for the backlog to be routed")
    wait_routed(config.drain_wait)
    # Last, because overload may leave the API stalled for a while.
    b = latency_phase(config, base, token, pool, config.rate, config.latency_seconds, groups)
    b.recovery_s = wait_responsive(base, api, RECOVERY_WAIT_S)
    print_report(
        config, Results(tree, ceiling, bare_closed, bare_open, light, b, a, profiles), work
    )
    return 0


def measure_ceiling(config: Config, pool: ReportPool) -> LoadResult:
    """Run the generator against the canned server: what the client alone can do."""
    port = free_port()
    canned = mp.get_context("spawn").Process(target=canned_server_main, args=(port,), daemon=True)
    canned.start()
    try:
        time.sleep(0.5)
        say(f"generator ceiling: {config.clients} clients on {config.gen_procs} process(es)")
        return closed_loop(
            f"http://127.0.0.1:{port}",
            None,
            pool,
            seconds=config.ceiling_seconds,
            clients=config.clients,
            procs=config.gen_procs,
            seed=1,
        )
    finally:
        canned.terminate()
        canned.join(timeout=5)


def measure_bare(
    config: Config, env: dict[str, str], processes: Processes, pool: ReportPool
) -> tuple[LoadResult, LoadResult]:
    """Serve the bare app like the real one; run the same closed and open loops on it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bare = processes.start(
        "bare", uvicorn_argv("bench._bare_app:create_app", port, config.api_procs, REPO), env
    )
    try:
        wait_http(f"{base}/api/health", bare)
        say("bare baseline: warm-up, closed loop, open loop")
        closed_loop(base, None, pool, seconds=1.0, clients=8, procs=1, seed=2)
        closed = closed_loop(
            base,
            None,
            pool,
            seconds=config.baseline_seconds,
            clients=config.clients,
            procs=config.gen_procs,
            seed=3,
        )
        opened = open_loop(
            base,
            None,
            pool,
            seconds=config.baseline_seconds,
            rate=config.rate,
            connections=config.connections,
            procs=config.gen_procs,
            seed=4,
        )
    finally:
        processes.stop(bare)
    return closed, opened


def latency_phase(
    config: Config,
    base: str,
    token: str,
    pool: ReportPool,
    offered: float,
    seconds: float,
    groups: list[CpuGroup],
) -> LatencyPhase:
    """Offer a fixed rate, then wait (bounded) for routing; measure POST and POST -> lead."""
    say(f"latency: {offered:,.0f}/s offered for {seconds:.0f} s, open loop")
    backlog_start = waiting_count()
    meter = CpuMeter(groups)
    start_at = time.time() + START_DELAY_S
    with LeadPoller() as poller:
        with meter.window(start_at, seconds):
            load = open_loop(
                base,
                token,
                pool,
                seconds=seconds,
                rate=offered,
                connections=config.connections,
                procs=config.gen_procs,
                seed=int(offered),
                record_ids=True,
                start_at=start_at,
            )
        started = time.monotonic()
        wait_routed(config.drain_wait)
        time.sleep(3 * POLL_INTERVAL_S)
        waited = time.monotonic() - started
    if poller.error is not None:
        raise RuntimeError(f"the lead poller failed: {poller.error!r}")
    db, seen, triaged, not_routed = lead_latencies(load, poller.seen)
    return LatencyPhase(
        offered,
        load,
        seconds,
        db,
        seen,
        triaged,
        not_routed,
        waited,
        backlog_start,
        cpu=cpu_shares(meter, load),
    )


def cpu_shares(meter: CpuMeter, load: LoadResult) -> dict[str, float]:
    """Return the meter's shares with the generator's own CPU and the rest of the machine."""
    cpu = meter.shares()
    busy, counted = cpu.pop("machine busy"), cpu.pop("_counted")
    cpu["load generator"] = load.cpu_s / load.wall_s if load.wall_s else math.nan
    cpu["everything else on the machine"] = max(0.0, busy - counted - cpu["load generator"])
    cpu["machine busy (all cores)"] = busy
    return cpu


def wait_responsive(base: str, api: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Wait until the API answers a health check (it needs a pooled connection); return s."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout_s and api.poll() is None:
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.5)
    return math.inf


def sustained_phase(
    config: Config, base: str, token: str, pool: ReportPool, groups: list[CpuGroup]
) -> SustainedPhase:
    """Post in a closed loop for --duration; count what was accepted and routed meanwhile."""
    say(f"sustained: {config.clients} clients, closed loop, {config.duration:.0f} s")
    meter = CpuMeter(groups)
    backlog_start = waiting_count()
    t0 = time.time() + START_DELAY_S
    t1 = t0 + config.duration
    with meter.window(t0, config.duration):
        load = closed_loop(
            base,
            token,
            pool,
            seconds=config.duration,
            clients=config.clients,
            procs=config.gen_procs,
            seed=8,
            start_at=t0,
        )
    cpu = cpu_shares(meter, load)
    backlog_end = waiting_count()
    pending_end, deliveries_end = pending_in_redis(config.redis_url)
    in_window = "extract(epoch FROM routed_at) BETWEEN %(t0)s AND %(t1)s"
    with psycopg.connect(PG_BENCH, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*) FILTER (WHERE status IN ('dispatched', 'needs_triage') "
            f"AND {in_window}), "
            f"count(*) FILTER (WHERE status = 'dispatched' AND {in_window}), "
            f"count(*) FILTER (WHERE status = 'needs_triage' AND {in_window}), "
            "count(*) FILTER (WHERE extract(epoch FROM received_at) BETWEEN %(t0)s AND %(t1)s) "
            "FROM event",
            {"t0": t0, "t1": t1},
        ).fetchone()
    assert row is not None
    return SustainedPhase(
        load,
        config.duration,
        int(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        backlog_start,
        backlog_end,
        pending_end,
        deliveries_end,
        cpu,
    )


def profile(
    config: Config,
    processes: Processes,
    work: Path,
    base: str,
    token: str,
    pool: ReportPool,
    api: subprocess.Popen[bytes],
    worker: subprocess.Popen[bytes],
) -> dict[str, str]:
    """Record the API and one worker with py-spy under closed-loop load; summarise both.

    The API is sampled only while a thread holds the GIL (--gil): one process's CPU-bound
    Python work is what limits it. The worker is sampled whenever it is not idle, so its
    waits on PostgreSQL show up too. Both include their subprocesses (RQ forks a horse
    per job).
    """
    spy = py_spy()
    if spy is None:
        say("py-spy not found (pip install py-spy); skipping the profile")
        return {"skipped": "py-spy not installed"}
    seconds = max(1, int(config.profile_seconds))
    say(f"profile: py-spy on the API and worker-0 for {seconds} s")
    recorders = {}
    for name, target, extra in (("API", api, ["--gil"]), ("worker-0", worker, [])):
        recorders[name] = processes.start(
            f"py-spy-{name}",
            [
                spy,
                "record",
                "--pid",
                str(target.pid),
                "--subprocesses",
                "--nonblocking",
                "--full-filenames",
                "--rate",
                "100",
                "--duration",
                str(seconds + 1),
                "--format",
                "raw",
                "--output",
                str(work / f"{name}.pyspy.txt"),
                *extra,
            ],
            dict(os.environ),
        )
    time.sleep(0.5)
    closed_loop(
        base, token, pool, seconds=seconds, clients=config.clients, procs=config.gen_procs, seed=9
    )
    summaries = {}
    for name, recorder in recorders.items():
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            processes.stop(recorder)
        raw = work / f"{name}.pyspy.txt"
        summaries[name] = (
            summarise_profile(raw)
            if raw.exists()
            else f"    no profile recorded:\n{processes.tail(f'py-spy-{name}')}"
        )
    return summaries


# ---- The report ----------------------------------------------------------------------------


def pair(values: list[float]) -> str:
    """Format p50 / p99."""
    p50, p99 = percentile(values, 50), percentile(values, 99)
    if math.isinf(p50) or math.isnan(p50) or math.isinf(p99) or math.isnan(p99):
        return f"{ms(p50)} / {ms(p99)}"
    if p99 < 10:
        return f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms"
    return f"{p50:,.1f} / {p99:,.1f} s"


def per_s(n: float, seconds: float) -> float:
    """Return n per second, or nan for an empty interval."""
    return n / seconds if seconds else math.nan


def recovery(seconds: float) -> str:
    """Say how long the API took to answer again after the overload."""
    if math.isinf(seconds):
        return f"; afterwards the API did not answer a health check within {RECOVERY_WAIT_S:.0f} s"
    return f"; afterwards the API answered a health check after {ms(seconds)}"


def print_report(config: Config, r: Results, work: Path) -> None:
    """Print the table, the verdicts against the targets and the supporting figures."""
    a, b = r.a, r.b
    accepted = per_s(a.load.ok_in_window, a.seconds)
    routed = per_s(a.routed, a.seconds)
    lead_p99 = max(percentile(b.seen_lead, 99), percentile(b.db_lead, 99))
    cores = psutil.cpu_count() or 0
    w1, w = 44, 22

    def row(label: str, system: str = "", bare: str = "", target: str = "") -> str:
        return f"{label:<{w1}} {system:>{w}} {bare:>{w}} {target:>{w}}".rstrip()

    lines = [
        "",
        f"Intake benchmark — {cores} cores; {r.tree}",
        f"API and bare app: uvicorn --workers {config.api_procs} (uvloop, httptools, no "
        f"access log); {config.workers} RQ workers + the sweeper; PostgreSQL {DB_NAME}; "
        f"generator: {config.gen_procs} process(es), httpx, one connection per client"
        + ("\n[--quick: a smoke check; these figures mean little]" if config.quick else ""),
        "",
        row("", "system", "bare FastAPI", "target"),
        f"Sustained: closed loop, {config.clients} clients, {a.seconds:.0f} s",
        row(
            "  POSTs accepted/s",
            rate(accepted),
            rate(per_s(r.bare_closed.ok_in_window, config.baseline_seconds)),
        ),
        row(
            "  POST p50 / p99", pair(a.load.post_latencies()), pair(r.bare_closed.post_latencies())
        ),
        row("  events routed/s end to end", rate(routed), "—", rate(TARGET_SUSTAINED)),
        row("  backlog at end (events still reported)", f"{a.backlog_end:,}", "—"),
    ]
    for phase, label in ((b, "Phase B"), (r.light, "Light load")):
        if phase is None:
            continue
        is_b = phase is b
        lines += [
            f"{label}: {rate(phase.rate)} offered, open loop, {phase.seconds:.0f} s"
            + ("" if is_b else " (for comparison: latency without queueing)"),
            row(
                "  POSTs answered 2xx/s",
                rate(per_s(phase.load.ok, phase.seconds)),
                rate(per_s(r.bare_open.ok, config.baseline_seconds)) if is_b else "",
            ),
            row(
                "  POST p50 / p99",
                pair(phase.load.post_latencies()),
                pair(r.bare_open.post_latencies()) if is_b else "",
            ),
            row(
                "  POST→lead p50 / p99 (observed)",
                pair(phase.seen_lead),
                "—" if is_b else "",
                f"p99 ≤ {TARGET_P99_S * 1000:,.0f} ms" if is_b else "",
            ),
            row("  POST→lead p50 / p99 (DB stamps)", pair(phase.db_lead), "—" if is_b else ""),
        ]
    ceiling = per_s(r.ceiling.ok_in_window, config.ceiling_seconds)
    lines += [
        "",
        f"Generator ceiling (same generator, {config.clients} clients, against a canned-response "
        f"server): {rate(ceiling)}; generator CPU {per_s(r.ceiling.cpu_s, r.ceiling.wall_s):.0%} "
        f"of a core, {1e6 * r.ceiling.cpu_s / max(r.ceiling.sent, 1):,.0f} µs per request",
        "",
        "Targets:",
        f"  1,000 events/s sustained end to end: {rate(routed)} routed, {rate(accepted)} accepted"
        f" — {'MET' if routed >= TARGET_SUSTAINED else 'NOT met'}",
        f"  p99 POST→lead ≤ 1 s at {rate(TARGET_RATE)}: "
        + (
            f"not tested (--rate {rate(config.rate)})"
            if config.rate < TARGET_RATE
            else f"p99 {ms(lead_p99)} (the worse of observed and DB stamps) — "
            + ("MET" if lead_p99 <= TARGET_P99_S else "NOT met")
        ),
        "",
        "Details:",
        f"  sustained: {a.load.ok_in_window:,} accepted in the window; errors {errors(a.load)}; "
        f"received {a.received:,}; routed {a.routed:,} (dispatched {a.dispatched:,}, "
        f"needs_triage {a.triaged:,}); backlog {a.backlog_start:,} at the start, "
        f"{a.backlog_end:,} at the end ({a.pending_end:,} ids in the Redis pending set); "
        f"{a.deliveries_end:,} delivery jobs waiting in their queue at the end",
    ]
    for phase in (p for p in (r.light, b) if p is not None):
        lines.append(
            f"  {rate(phase.rate)}: {phase.load.sent:,} sent; errors {errors(phase.load)}; worst "
            f"send lag {ms(phase.load.lag_max_s)}; {len(phase.load.ids):,} created: "
            f"{len(phase.load.ids) - phase.triaged - phase.not_routed:,} got a lead, "
            f"{phase.triaged:,} went to triage, {phase.not_routed:,} still unrouted after "
            f"waiting {phase.waited_s:.0f} s; backlog at the start {phase.backlog_start:,}"
            + (recovery(phase.recovery_s) if phase is b else "")
        )
    lines += [
        f"  bare: closed-loop errors {errors(r.bare_closed)}; open-loop errors "
        f"{errors(r.bare_open)}, worst send lag {ms(r.bare_open.lag_max_s)}",
        "",
        f"CPU by phase, in shares of one core (the machine has {cores}; PostgreSQL and Redis "
        "are shared with whoever else uses them; 'everything else' is the rest of the machine):",
    ]
    phases = [(f"light {rate(r.light.rate)}", r.light.cpu)] if r.light else []
    phases += [("sustained", a.cpu), (f"Phase B {rate(b.rate)}", b.cpu)]
    lines.append(f"  {'':<58}" + "".join(f"{name:>16}" for name, _ in phases))
    for key in a.cpu:
        lines.append(
            f"  {key:<58}" + "".join(f"{cpu.get(key, math.nan):>16.0%}" for _, cpu in phases)
        )
    for name, summary in r.profiles.items():
        lines += ["", f"Profile of the {name} (py-spy):", summary]
    lines += ["", f"Logs and raw profiles: {work}"]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
