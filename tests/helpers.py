"""Small helpers shared by tests of several packages."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from uuid import uuid4

import redis
from PIL import Image
from rq import Worker
from shapely.geometry import shape

from dispatch.core.clock import utcnow
from dispatch.demo import demo_file
from dispatch.events.schemas import EventCreate

REPO = Path(__file__).resolve().parents[1]

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


def stream_entries(connection: redis.Redis, stream: str) -> StreamEntries:
    """Return the entries of a Redis stream, as a connection that does not decode reads them."""
    # redis-py types its replies for either decoding and for its async twin at once.
    return cast(StreamEntries, connection.xrange(stream))


@contextmanager
def running_worker(
    redis_url: str, *, quiet_stdout: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `sipingtai worker` (settings from the environment) until it registers; stop it after."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        cwd=REPO,
        env={**os.environ},
        stdout=subprocess.DEVNULL if quiet_stdout else None,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        connection = redis.Redis.from_url(redis_url)
        while not Worker.all(connection=connection):
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=10)


def demo_grid_point(township_code: str, nth: int = 0) -> tuple[float, float]:
    """Return a point well inside the nth demo grid of a township."""
    grids = json.loads(demo_file("grids.geojson").read_text(encoding="utf-8"))
    inside = [f for f in grids["features"] if f["properties"]["code"].startswith(township_code)]
    point = shape(inside[nth]["geometry"]).representative_point()
    return point.x, point.y


def new_report(
    township_code: str = "320999004",
    *,
    matter_code: str | None = "C-001",
    description: str = "东村三组有人在自家院子里加盖二层彩钢房，没有审批手续",
    reported_at: datetime | None = None,
    **extra: object,
) -> EventCreate:
    """Return a report from a grid of the demo township, with a fresh client id."""
    lon, lat = demo_grid_point(township_code)
    return EventCreate.model_validate(
        {
            "client_id": uuid4(),
            "reported_at": reported_at or utcnow(),
            "lon": lon,
            "lat": lat,
            "description": description,
            "matter_code": matter_code,
            **extra,
        }
    )


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def image_bytes(kind: str = "JPEG", size: tuple[int, int] = (32, 24), mode: str = "RGB") -> bytes:
    """Return a real image file of the given format, made by Pillow."""
    buffer = io.BytesIO()
    Image.new(mode, size, color=1 if mode == "1" else (200, 120, 40)).save(buffer, kind)
    return buffer.getvalue()


_T = TypeVar("_T")


def run_async(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to its end on an event loop of its own, in a thread of its own.

    The browser tests leave Playwright's loop running in the main thread, where asyncio.run
    refuses to start a second one.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
