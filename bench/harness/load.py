"""Generate HTTP load from spawned processes: closed loop, open loop, and the client's ceiling.

Each generator process runs asyncio (uvloop) and the lean keep-alive client of
bench/harness/wire.py (about a tenth of httpx's CPU a request, so the generator's own
queueing does not pass for the service's latency), each task with a one-connection client
of its own. Bodies come from a picklable callable, such as bench.harness.reports.ReportPool.
All generator processes start at one wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing as mp
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from bench.harness.processes import HOST, free_port, say
from bench.harness.wire import WireClient, WireError

HTTP_TIMEOUT_S = 30.0
# Open loop: an answer later than this counts as never.
OPEN_LOOP_TIMEOUT_S = 10.0
# Spawned generator processes import what they need and build their clients before the start.
START_DELAY_S = 1.5
# Phone mode: a refused report is sent again, as the phone page does, until this long after
# the phase's end; an answer within this long counts as answered promptly.
PHONE_GIVE_UP_S = 60.0
PROMPT_S = 1.0

Body = Callable[[random.Random], bytes]


@dataclass(frozen=True)
class LoadSpec:
    """What one generator process does."""

    base_url: str
    token: str | None
    body: Body
    mode: str  # "closed", "open", or "phone" (open, and a refused report is sent again)
    start_at: float  # wall clock, shared by all generator processes
    seconds: float
    clients: int  # closed: concurrent clients; open: connections
    rate: float = 0.0  # open: requests/s from this process
    offset_s: float = 0.0  # open: this process's phase within the schedule
    seed: int = 0
    record_ids: bool = False
    timeout_s: float = HTTP_TIMEOUT_S
    path: str = "/api/events"
    # open: send at these offsets (s after start_at) instead of at a fixed rate
    schedule: tuple[float, ...] = ()


# A client lets an idle connection go before uvicorn's keep-alive (5 s) closes it: otherwise a
# request sent on it as the server closes it fails with a ReadError, the keep-alive race.
KEEPALIVE_S = 4.0


@dataclass
class LoadResult:
    """What the generator processes saw."""

    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    ok_in_window: int = 0
    latencies: list[float] = field(default_factory=list)  # 2xx only, seconds
    # with record_ids: (id answered, scheduled or sent wall time) for every 201
    ids: list[tuple[int, float]] = field(default_factory=list)
    # with record_ids: (scheduled or sent wall time, latency; inf unless 2xx) for every request
    timeline: list[tuple[float, float]] = field(default_factory=list)
    lag_max_s: float = 0.0  # open loop: worst delay between schedule and send
    cpu_s: float = 0.0
    wall_s: float = 0.0  # from the start until every answer was in (or given up)
    # Phone mode: every attempt, those answered (any status) within PROMPT_S, and per report
    # its client_id and, once accepted, the seconds from its first send to the acceptance.
    attempts: int = 0
    prompt: int = 0
    client_ids: list[str] = field(default_factory=list)
    accepted_after: list[float] = field(default_factory=list)
    accepted_ids: list[int] = field(default_factory=list)
    answer_s: dict[str, list[float]] = field(default_factory=dict)  # per status, per attempt

    @property
    def ok(self) -> int:
        """Return how many requests were answered 2xx."""
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    def post_latencies(self) -> list[float]:
        """Return every request's latency, inf for those refused, failed or timed out."""
        return self.latencies + [math.inf] * (self.sent - self.ok)

    def merge(self, other: LoadResult) -> None:
        """Add another process's result to this one."""
        self.sent += other.sent
        self.statuses.update(other.statuses)
        self.ok_in_window += other.ok_in_window
        self.latencies.extend(other.latencies)
        self.ids.extend(other.ids)
        self.timeline.extend(other.timeline)
        self.lag_max_s = max(self.lag_max_s, other.lag_max_s)
        self.cpu_s += other.cpu_s
        self.wall_s = max(self.wall_s, other.wall_s)
        self.attempts += other.attempts
        self.prompt += other.prompt
        self.client_ids.extend(other.client_ids)
        self.accepted_after.extend(other.accepted_after)
        self.accepted_ids.extend(other.accepted_ids)
        for status, seconds in other.answer_s.items():
            self.answer_s.setdefault(status, []).extend(seconds)


def errors(result: LoadResult) -> str:
    """Name the non-2xx outcomes, or say there were none."""
    bad = {k: v for k, v in result.statuses.items() if not k.startswith("2")}
    if abandoned := result.sent - sum(result.statuses.values()):
        bad["unanswered at the end"] = abandoned
    return ", ".join(f"{k}×{v}" for k, v in sorted(bad.items())) or "none"


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
    rng = random.Random(spec.seed)
    headers = {"content-type": "application/json"}
    if spec.token:
        headers["authorization"] = f"Bearer {spec.token}"

    def new_client() -> WireClient:
        return WireClient(spec.base_url, headers, timeout_s=spec.timeout_s, keepalive_s=KEEPALIVE_S)

    clients = [new_client() for _ in range(spec.clients)]
    # Phones each send on a connection of their own: an attempt takes an idle connection or
    # opens one, so no attempt waits in the generator behind another phone's.
    idle = list(clients)
    result = LoadResult()
    stop_at = spec.start_at + spec.seconds

    async def post(client: WireClient, t0: float) -> None:
        result.sent += 1
        try:
            response = await client.post(spec.path, content=spec.body(rng))
        except WireError as exc:
            result.statuses[type(exc).__name__] += 1
            if spec.record_ids:
                result.timeline.append((t0, math.inf))
            return
        done = time.time()
        result.statuses[str(response.status_code)] += 1
        ok = response.status_code // 100 == 2
        if spec.record_ids:
            result.timeline.append((t0, done - t0 if ok else math.inf))
        if not ok:
            return
        result.latencies.append(done - t0)
        if done <= stop_at:
            result.ok_in_window += 1
        if spec.record_ids and response.status_code == 201:
            result.ids.append((int(response.json()["id"]), t0))

    async def phone(_: WireClient, t0: float) -> None:
        # As the phone page does: the same body (so the same client_id) until accepted,
        # waiting Retry-After plus up to half of it again (at least a second) after a 503.
        body = spec.body(rng)
        result.sent += 1
        result.client_ids.append(json.loads(body)["client_id"])
        give_up = stop_at + PHONE_GIVE_UP_S
        backoff = 1.0
        while True:
            sent = time.time()
            result.attempts += 1
            if idle:
                own = idle.pop()
            else:
                own = new_client()
                clients.append(own)
            try:
                response = await own.post(spec.path, content=body)
            except WireError as exc:
                result.statuses[type(exc).__name__] += 1
                wait = backoff
                backoff = min(backoff * 2, 30.0)
            else:
                done = time.time()
                result.prompt += done - sent <= PROMPT_S
                result.statuses[status := str(response.status_code)] += 1
                result.answer_s.setdefault(status, []).append(done - sent)
                if response.status_code // 100 == 2:
                    result.accepted_after.append(done - t0)
                    result.accepted_ids.append(int(response.json()["id"]))
                    return
                if response.status_code // 100 == 4:
                    return  # refused for good: counted as lost
                wait = float(response.headers.get("retry-after", backoff))
            finally:
                idle.append(own)
            wait += rng.uniform(0, max(1.0, wait / 2))
            if time.time() + wait > give_up:
                return
            await asyncio.sleep(wait)

    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    cpu0, wall0 = time.process_time(), time.time()
    if spec.mode == "closed":

        async def closed(client: WireClient) -> None:
            while (t0 := time.time()) < stop_at:
                await post(client, t0)

        await asyncio.gather(*(closed(c) for c in clients))
    else:
        interval = 1.0 / spec.rate if spec.rate else math.inf
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while True:
            if spec.schedule:
                if n >= len(spec.schedule):
                    break
                due = spec.start_at + spec.schedule[n]
            else:
                due = spec.start_at + spec.offset_s + n * interval
            if due >= stop_at:
                break
            now = time.time()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            result.lag_max_s = max(result.lag_max_s, now - due)
            send = phone if spec.mode == "phone" else post
            task = asyncio.create_task(send(clients[n % len(clients)], due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            waits = spec.timeout_s + 2 + (PHONE_GIVE_UP_S if spec.mode == "phone" else 0)
            _, late = await asyncio.wait(tasks, timeout=waits)
            for task in late:  # counted as sent but unanswered
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    result.cpu_s, result.wall_s = time.process_time() - cpu0, time.time() - wall0
    await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    return result


def run_load(specs: list[LoadSpec]) -> LoadResult:
    """Run one generator process per spec to the end; return their merged result."""
    context = mp.get_context("spawn")
    children = []
    merged = LoadResult()
    try:
        for spec in specs:
            parent_end, child_end = context.Pipe(duplex=False)
            process = context.Process(target=generator_main, args=(child_end, spec), daemon=True)
            process.start()
            child_end.close()
            children.append((process, parent_end))
        limit = max(s.start_at + s.seconds + s.timeout_s for s in specs) - time.time() + 30
        limit += PHONE_GIVE_UP_S if any(s.mode == "phone" for s in specs) else 0
        for process, pipe in children:
            if not pipe.poll(max(limit, 1.0)):
                raise RuntimeError("a generator process did not report in time")
            merged.merge(pipe.recv())
            process.join(timeout=10)
    finally:
        for process, _ in children:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    return merged


def closed_loop(
    base_url: str,
    token: str | None,
    body: Body,
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
        LoadSpec(base_url, token, body, "closed", start_at, seconds, n, seed=seed + i)
        for i, n in enumerate(shares)
        if n
    ]
    return run_load(specs)


def open_loop(
    base_url: str,
    token: str | None,
    body: Body,
    *,
    seconds: float,
    rate: float,
    connections: int,
    procs: int,
    seed: int,
    record_ids: bool = False,
    start_at: float | None = None,
    phone: bool = False,
) -> LoadResult:
    """Post `rate` requests/s on a fixed schedule over `connections`, whatever the answers do.

    Latency counts from the scheduled send time, so a generator or server falling
    behind shows up in it; an answer later than OPEN_LOOP_TIMEOUT_S counts as never.
    With phone=True a report refused with 503 is sent again as the phone page sends it.
    """
    start_at = start_at or time.time() + START_DELAY_S
    specs = [
        LoadSpec(
            base_url,
            token,
            body,
            "phone" if phone else "open",
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
    return run_load(specs)


def scheduled_loop(
    base_url: str,
    token: str | None,
    body: Body,
    *,
    schedule: list[float],
    connections: int,
    procs: int,
    seed: int,
    start_at: float | None = None,
) -> LoadResult:
    """Post at the given offsets (s after the start) whatever the answers do; record timelines.

    The schedule is dealt round-robin to `procs` processes; as in open_loop, latency counts from
    the scheduled time and an answer later than OPEN_LOOP_TIMEOUT_S counts as never.
    """
    start_at = start_at or time.time() + START_DELAY_S
    offsets = sorted(schedule)
    seconds = (offsets[-1] if offsets else 0.0) + 1.0
    specs = [
        LoadSpec(
            base_url,
            token,
            body,
            "open",
            start_at,
            seconds,
            max(1, connections // procs),
            seed=seed + i,
            record_ids=True,
            timeout_s=OPEN_LOOP_TIMEOUT_S,
            schedule=tuple(offsets[i::procs]),
        )
        for i in range(procs)
        if offsets[i::procs]
    ]
    return run_load(specs)


# ---- The canned server: what the generator alone can do -----------------------------------

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
        server = await asyncio.get_running_loop().create_server(Canned, HOST, port)
        await server.serve_forever()

    uvloop.run(serve())


def ceiling(body: Body, *, seconds: float, clients: int, procs: int) -> LoadResult:
    """Run the closed loop against the canned server: what the client alone can do."""
    port = free_port()
    canned = mp.get_context("spawn").Process(target=canned_server_main, args=(port,), daemon=True)
    canned.start()
    try:
        time.sleep(0.5)
        say(f"generator ceiling: {clients} clients on {procs} process(es)")
        return closed_loop(
            f"http://{HOST}:{port}",
            None,
            body,
            seconds=seconds,
            clients=clients,
            procs=procs,
            seed=1,
        )
    finally:
        canned.terminate()
        canned.join(timeout=5)
