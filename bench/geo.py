"""Benchmark the jurisdiction index against a naive loop and PostGIS; prints a table.

    python bench/geo.py [--quick]

Synthetic jittered tilings of 20, 2,000 and 50,000 polygons over one county-sized box
(0.5 x 0.5 degrees near Nanjing, about 2,600 km2). Single lookups are timed one call at a
time with perf_counter_ns; bulk throughput goes through ``locate_stream`` end to end (CSV
text in, CSV text out). The naive baseline loops in Python over every polygon with
``shapely.contains_xy`` (on fewer points when there are many polygons, to stay bounded).
PostGIS answers single-row ``ST_Contains`` queries over one psycopg connection, with a GiST
index and ``SET jit = off``; it is skipped, with the reason, when unavailable.

Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.db import create_database, drop_database, dsn
from bench.harness.stats import percentile, row
from geo import Jurisdiction, JurisdictionIndex, Level
from geo.bulk import locate_stream

BOX = (118.5, 31.5, 119.0, 32.0)
SIZES = ((5, 4), (50, 40), (250, 200))
PG_DB = "sipingtai_bench"
COLUMNS = (
    ("polygons", 9), ("build s", 8), ("single/s", 10), ("p50 µs", 7), ("p99 µs", 7),
    ("near %", 6), ("bulk pts/s", 11), ("naive/s", 9), ("naive p50", 10),
    ("PostGIS/s", 10), ("PG p50 µs", 10), ("x naive", 8), ("x PostGIS", 9),
)  # fmt: skip
WIDTHS = [width for _, width in COLUMNS]


@dataclass
class Row:
    """The figures of one tiling size."""

    polygons: int
    build_s: float
    single_per_s: float
    p50_us: float
    p99_us: float
    near_pct: float
    bulk_per_s: float
    naive_per_s: float
    naive_p50_us: float
    pg_per_s: float | None = None
    pg_p50_us: float | None = None


def tiling(nx: int, ny: int, seed: int = 0) -> list[Jurisdiction]:
    """Return nx * ny jittered quadrilaterals with two jittered points on every edge."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    cw, ch = (x1 - x0) / nx, (y1 - y0) / ny
    vx, vy = np.meshgrid(np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1))
    vx[1:-1, 1:-1] += rng.uniform(-0.25, 0.25, (ny - 1, nx - 1)) * cw
    vy[1:-1, 1:-1] += rng.uniform(-0.25, 0.25, (ny - 1, nx - 1)) * ch
    v = np.stack([vx, vy], -1)
    t = np.array([1 / 3, 2 / 3])[None, None, :, None]
    horizontal = v[:, :-1, None] + (v[:, 1:, None] - v[:, :-1, None]) * t
    horizontal[1:-1] += rng.uniform(-0.05, 0.05, horizontal[1:-1].shape) * [cw, ch]
    vertical = v[:-1, :, None] + (v[1:, :, None] - v[:-1, :, None]) * t
    vertical[:, 1:-1] += rng.uniform(-0.05, 0.05, vertical[:, 1:-1].shape) * [cw, ch]
    out = []
    for j in range(ny):
        for i in range(nx):
            ring = [
                v[j, i],
                *horizontal[j, i],
                v[j, i + 1],
                *vertical[j, i + 1],
                v[j + 1, i + 1],
                *horizontal[j + 1, i][::-1],
                v[j + 1, i],
                *vertical[j, i][::-1],
            ]
            k = j * nx + i
            out.append(Jurisdiction(f"G{k:06d}", f"网格{k}", Level.GRID, None, Polygon(ring)))
    return out


def random_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return n uniformly random points in the box, as x and y arrays."""
    rng = np.random.default_rng(seed)
    return rng.uniform(BOX[0], BOX[2], n), rng.uniform(BOX[1], BOX[3], n)


def time_calls(
    call: Callable[[float, float], object], xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """Return the duration of each call in microseconds."""
    clock = time.perf_counter_ns
    out = np.empty(len(xs))
    for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
        start = clock()
        call(x, y)
        out[i] = clock() - start
    return out / 1000.0


def naive(geoms: list[Polygon]) -> Callable[[float, float], str | None]:
    """Return the baseline lookup: test every polygon in turn."""

    def locate(x: float, y: float) -> str | None:
        for k, g in enumerate(geoms):
            if shapely.contains_xy(g, x, y):
                return str(k)
        return None

    return locate


class PostGIS:
    """One connection to a scratch database holding one table of polygons."""

    def __init__(self) -> None:
        import psycopg  # imported here: the bench runs without it

        create_database(PG_DB)
        try:
            self.conn = psycopg.connect(dsn(PG_DB), autocommit=True)
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except BaseException:
            drop_database(PG_DB)
            raise
        self.conn.execute("SET jit = off")
        found = self.conn.execute("SELECT postgis_full_version()").fetchone()
        version = str(found[0]) if found else "unknown"
        self.version = version.split('"')[1] if '"' in version else version[:40]

    def load(self, jurisdictions: list[Jurisdiction]) -> None:
        """Replace the table's polygons with these, indexed."""
        self.conn.execute("DROP TABLE IF EXISTS j")
        self.conn.execute("CREATE TABLE j (code text PRIMARY KEY, geom geometry(Polygon, 4326))")
        with self.conn.cursor() as cur, cur.copy("COPY j (code, geom) FROM STDIN") as copy:
            for j in jurisdictions:
                copy.write_row((j.code, "SRID=4326;" + j.geometry.wkt))
        self.conn.execute("CREATE INDEX j_geom ON j USING gist (geom)")
        self.conn.execute("ANALYZE j")

    def locate(self, x: float, y: float) -> object:
        """Return the row of the polygon holding the point, if any."""
        return self.conn.execute(
            "SELECT code FROM j WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
            " ORDER BY code LIMIT 1",
            (x, y),
            prepare=True,
        ).fetchone()

    def close(self) -> None:
        """Close the connection and drop the scratch database."""
        self.conn.close()
        drop_database(PG_DB)


def connect_postgis() -> tuple[PostGIS | None, str]:
    """Return PostGIS and its version, or None and why it is skipped."""
    try:
        pg = PostGIS()
    except ImportError as exc:
        return None, f"psycopg not installed ({exc})"
    except Exception as exc:  # any connection or extension failure just skips PostGIS
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return pg, pg.version


def bench(nx: int, ny: int, quick: bool, pg: PostGIS | None) -> Row:
    """Measure one tiling size: build, single lookups, bulk, naive and PostGIS."""
    jurisdictions = tiling(nx, ny)
    n = len(jurisdictions)
    start = time.perf_counter()
    index = JurisdictionIndex.build(jurisdictions)
    build_s = time.perf_counter() - start

    xs, ys = random_points(5_000 if quick else 20_000, seed=1)
    for x, y in zip(xs[:500].tolist(), ys[:500].tolist(), strict=True):
        index.locate(x, y)  # warm the prepared geometries and caches
    single = time_calls(index.locate, xs, ys)
    near = sum(
        index.locate(x, y).near_boundary is not None
        for x, y in zip(xs[:2000].tolist(), ys[:2000].tolist(), strict=True)
    )

    lines = 100_000 if quick else 1_000_000
    bx, by = random_points(lines, seed=2)
    text = "".join(f"{x:.6f},{y:.6f}\n" for x, y in zip(bx.tolist(), by.tolist(), strict=True))
    sink = io.StringIO()
    start = time.perf_counter()
    locate_stream(index, io.StringIO(text), sink)
    bulk_per_s = lines / (time.perf_counter() - start)

    naive_points = max(20, min(2_000 if quick else 5_000, 2_000_000 // n))
    naive_times = time_calls(
        naive([j.geometry for j in jurisdictions]), xs[:naive_points], ys[:naive_points]
    )
    figures = Row(
        polygons=n,
        build_s=build_s,
        single_per_s=1e6 / single.mean(),
        p50_us=percentile(single.tolist(), 50),
        p99_us=percentile(single.tolist(), 99),
        near_pct=100.0 * near / 2000,
        bulk_per_s=bulk_per_s,
        naive_per_s=1e6 / naive_times.mean(),
        naive_p50_us=percentile(naive_times.tolist(), 50),
    )
    if pg is not None:
        pg.load(jurisdictions)
        count = 1_000 if quick else 5_000
        for x, y in zip(xs[:200].tolist(), ys[:200].tolist(), strict=True):
            pg.locate(x, y)
        pg_times = time_calls(pg.locate, xs[:count], ys[:count])
        figures.pg_per_s = 1e6 / pg_times.mean()
        figures.pg_p50_us = percentile(pg_times.tolist(), 50)
    return figures


def fmt(value: float | None, digits: int = 0) -> str:
    """Format a figure with thousands separators, or '-' when absent."""
    return "-" if value is None else f"{value:,.{digits}f}"


def main() -> None:
    """Run every size and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and lines")
    args = parser.parse_args()

    print(
        f"python {platform.python_version()}, shapely {shapely.__version__}, "
        f"GEOS {shapely.geos_version_string}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores, {platform.machine()}"
    )
    pg, detail = connect_postgis()
    print(f"PostGIS: {detail}" if pg else f"PostGIS: skipped ({detail})")
    rows = []
    try:
        for nx, ny in SIZES:
            rows.append(bench(nx, ny, args.quick, pg))
            print(f"  ... {rows[-1].polygons:,} polygons done", file=sys.stderr, flush=True)
    finally:
        if pg is not None:
            pg.close()

    header = row([name for name, _ in COLUMNS], WIDTHS, left=0)
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        vs_pg = r.single_per_s / r.pg_per_s if r.pg_per_s else None
        cells = [
            f"{r.polygons:,}", f"{r.build_s:.2f}", fmt(r.single_per_s), f"{r.p50_us:.1f}",
            f"{r.p99_us:.1f}", f"{r.near_pct:.1f}", fmt(r.bulk_per_s), fmt(r.naive_per_s),
            fmt(r.naive_p50_us, 1), fmt(r.pg_per_s), fmt(r.pg_p50_us, 1),
            f"{r.single_per_s / r.naive_per_s:.1f}", fmt(vs_pg, 1),
        ]  # fmt: skip
        print(row(cells, WIDTHS, left=0))
    print()
    print("single/s = 1 / mean single-call time; near % = share of points within 50 m of a")
    print("neighbour (they pay the exact distance check); bulk = locate_stream, CSV in and out;")
    print("x naive and x PostGIS compare single lookups per second.")


if __name__ == "__main__":
    main()
