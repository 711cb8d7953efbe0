"""Run the Sipingtai service under test on loopback and watch its routing in the database.

The service is the API under uvicorn, RQ workers (`python -m service.cli worker`) and
the sweeper (`python -m service.cli scheduler`), all children of a Processes.
"""

from __future__ import annotations

import math
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from bench.harness.cpu import (
    CpuGroup,
    postgres_backends,
    postgres_server,
    redis_server,
    this_process,
    tree,
)
from bench.harness.db import dsn, flushed_redis, redis_url, scratch_database
from bench.harness.http import wait_http
from bench.harness.load import LoadResult
from bench.harness.processes import (
    HOST,
    Processes,
    free_port,
    redis_server_argv,
    say,
    service_argv,
    terminated_by_signals,
    uvicorn_argv,
    wait_tcp,
)

API = "service.app:create_app"


def service_env(database_url: str, redis: str, data_dir: Path) -> dict[str, str]:
    """Return the environment the service's processes run with."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "SIPINGTAI_DATA_DIR": str(data_dir),
        "SIPINGTAI_SECRET_KEY": secrets.token_urlsafe(48),
        "PYTHONUNBUFFERED": "1",
    }


def start_api(
    processes: Processes, env: dict[str, str], name: str, target: str = API, procs: int = 1
) -> tuple[str, subprocess.Popen[bytes]]:
    """Serve an app factory under uvicorn on a free port; return its base URL once it answers."""
    port = free_port()
    api = processes.start(name, uvicorn_argv(target, port, procs), env)
    base = f"http://{HOST}:{port}"
    wait_http(f"{base}/api/health", api)
    return base, api


@dataclass
class Service:
    """The service under test, running."""

    base: str
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    scheduler: subprocess.Popen[bytes] | None


def start_service(
    processes: Processes,
    env: dict[str, str],
    *,
    api_procs: int = 1,
    workers: int = 1,
    scheduler: bool = True,
) -> Service:
    """Start the API, the RQ workers and (unless told not to) the sweeper; wait for the API."""
    port = free_port()
    api = processes.start("api", uvicorn_argv(API, port, api_procs), env)
    started = [processes.start(f"worker-{i}", service_argv("worker"), env) for i in range(workers)]
    sweeper = processes.start("scheduler", service_argv("scheduler"), env) if scheduler else None
    base = f"http://{HOST}:{port}"
    wait_http(f"{base}/api/health", api)
    return Service(base, api, started, sweeper)


def service_cpu_groups(service: Service, database: str) -> list[CpuGroup]:
    """Return the process groups whose CPU is worth showing while the service runs."""
    api, workers, scheduler = service.api, service.workers, service.scheduler
    groups = [
        CpuGroup("API (uvicorn)", lambda: tree(api.pid)),
        CpuGroup(
            f"RQ workers ×{len(workers)} (incl. job horses)",
            lambda: [p for w in workers for p in tree(w.pid)],
            with_reaped_children=True,
        ),
    ]
    if scheduler is not None:
        groups.append(CpuGroup("scheduler (sweeper)", lambda: tree(scheduler.pid)))
    return [
        *groups,
        CpuGroup(
            "PostgreSQL, whole server (shared; incl. exited backends)",
            postgres_server,
            with_reaped_children=True,
        ),
        CpuGroup(
            f"  of which live backends on {database}",
            lambda: postgres_backends(database),
            detail_of_previous=True,
        ),
        CpuGroup("redis-server (shared)", redis_server),
        CpuGroup("bench process (sampling)", this_process),
    ]


def private_redis(processes: Processes, data_dir: Path, db: int = 12) -> str:
    """Start a non-persistent redis-server of the bench's own; return a database URL on it."""
    port = free_port()
    processes.start("redis", redis_server_argv(port, data_dir), dict(os.environ))
    wait_tcp(port)
    return redis_url(db, port)


def pending_in_redis(url: str) -> tuple[int, int]:
    """Return how many ids wait in the routing hand-off set, and how many delivery jobs wait."""
    from rq import Queue

    from dispatch.core.queues import DELIVERY_QUEUE, PENDING_KEY
    from dispatch.core.redis import connect

    connection = connect(url)
    try:
        pending = int(connection.scard(PENDING_KEY))
        return pending, Queue(DELIVERY_QUEUE, connection=connection).count
    finally:
        connection.close()


def query(database: str, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Run one read query on a local database."""
    import psycopg

    with psycopg.connect(dsn(database), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def waiting_count(database: str) -> int:
    """Return how many events are still waiting for routing."""
    return int(query(database, "SELECT count(*) FROM event WHERE status = 'reported'")[0][0])


def wait_routed(database: str, timeout_s: float) -> int:
    """Wait until no event waits for routing or the time is up; return how many still wait."""
    deadline = time.monotonic() + timeout_s
    while (left := waiting_count(database)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return left


class Watcher:
    """A daemon thread watching the service while a phase runs; `error` keeps what stopped it."""

    name = "watcher"

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._guarded, daemon=True, name=self.name)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._thread.join(timeout=10)

    def _guarded(self) -> None:
        try:
            self.watch()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def watch(self) -> None:
        """Watch until `stopping` is set."""
        raise NotImplementedError


class LeadPoller(Watcher):
    """Record when each event's lead assignment first becomes visible (committed).

    Assignment ids are taken at insert but become visible at commit, so a transaction
    that commits late leaves a gap below ids already seen. The poller keeps a floor
    below which every id has been seen and reads everything above it each time; a gap
    still open after GAP_GIVE_UP_S is taken for a rolled-back id and skipped.
    """

    GAP_GIVE_UP_S = 30.0
    name = "lead-poller"

    def __init__(self, database: str, interval_s: float) -> None:
        self.database = database
        self.interval_s = interval_s
        self.seen: dict[int, float] = {}
        super().__init__()

    def watch(self) -> None:
        """Poll new assignments until stopped."""
        import psycopg

        with psycopg.connect(dsn(self.database), autocommit=True) as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM assignment").fetchone()
            floor = int(row[0]) if row else 0
            above: set[int] = set()  # ids above the floor already seen
            gap_since: dict[int, float] = {}
            while not self.stopping.is_set():
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
                self.stopping.wait(self.interval_s)


def lead_latencies(
    database: str, load: LoadResult, seen: dict[int, float]
) -> tuple[list[float], list[float], int, int]:
    """Return DB-stamped and observed POST -> lead latencies, and triaged / unrouted counts.

    DB-stamped: Assignment.created_at - Event.received_at; observed: first seen by a
    LeadPoller - the scheduled send time. A report that was not accepted (error or
    timeout) never got a lead: it counts as inf. Events sent to triage get no lead by
    design and are left out.
    """
    rows = query(
        database,
        "SELECT e.id, e.status, extract(epoch FROM a.created_at - e.received_at) "
        "FROM event e LEFT JOIN assignment a ON a.event_id = e.id AND a.role = 'lead' "
        "WHERE e.id = ANY(%s)",
        ([i for i, _ in load.ids],),
    )
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    never = [math.inf] * (load.sent - len(load.ids))
    db, observed = list(never), list(never)
    triaged = not_routed = 0
    for event_id, t0 in load.ids:
        status, delta = by_id.get(event_id, ("missing", None))
        if status == "needs_triage":
            triaged += 1
        elif delta is None:
            not_routed += 1
            db.append(math.inf)
            observed.append(math.inf)
        else:
            db.append(float(delta))
            observed.append(seen[event_id] - t0 if event_id in seen else math.inf)
    return db, observed, triaged, not_routed


BenchRun = Callable[[dict[str, str], Processes, Path], int]


def run_bench(name: str, database: str, redis: str, run: BenchRun) -> int:
    """Give a bench a scratch database, a flushed Redis database and its processes; clean up.

    `run` gets the service's environment, the Processes and the work directory (logs).
    """
    work = Path(tempfile.mkdtemp(prefix=f"sipingtai-bench-{name}-"))
    say(f"logs in {work}")
    try:
        with (
            terminated_by_signals(),
            scratch_database(database) as url,
            flushed_redis(redis),
            Processes(work) as processes,
        ):
            return run(service_env(url, redis, work / "data"), processes, work)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        say("stopped every process; database dropped; Redis database flushed")
