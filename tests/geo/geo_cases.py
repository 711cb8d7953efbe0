"""Builders for the geo tests: a small hand-made hierarchy and a synthetic tiling."""

import numpy as np
import shapely
from shapely import MultiPolygon, Polygon, box

from geo import Jurisdiction, Level

# Two counties side by side; county 3301 has two townships, 3302 one. Township 330101 is
# cut into a 2x2 block of grids (33010101 is a MultiPolygon with an island north of the
# county); township 330102 has one grid with a hole holding an island grid; township
# 330201 has no grids at all.
HOLE = (120.14, 30.04, 120.16, 30.06)
ISLAND = (120.145, 30.045, 120.155, 30.055)


def _holed(outer: tuple[float, ...], hole: tuple[float, ...]) -> Polygon:
    return Polygon(box(*outer).exterior.coords, [box(*hole).exterior.coords])


def hierarchy() -> list[Jurisdiction]:
    """Return the hand-made hierarchy described above."""
    c, t, g = Level.COUNTY, Level.TOWNSHIP, Level.GRID
    return [
        Jurisdiction("3301", "东县", c, None, box(120.0, 30.0, 120.2, 30.1)),
        Jurisdiction("3302", "西县", c, None, box(120.2, 30.0, 120.4, 30.1)),
        Jurisdiction("330101", "甲镇", t, "3301", box(120.0, 30.0, 120.1, 30.1)),
        Jurisdiction("330102", "乙镇", t, "3301", box(120.1, 30.0, 120.2, 30.1)),
        Jurisdiction("330201", "丙街道", t, "3302", box(120.2, 30.0, 120.4, 30.1)),
        Jurisdiction(
            "33010101",
            "一网格",
            g,
            "330101",
            MultiPolygon([box(120.0, 30.0, 120.05, 30.05), box(120.02, 30.12, 120.03, 30.13)]),
        ),
        Jurisdiction("33010102", "二网格", g, "330101", box(120.05, 30.0, 120.1, 30.05)),
        Jurisdiction("33010103", "三网格", g, "330101", box(120.0, 30.05, 120.05, 30.1)),
        Jurisdiction("33010104", "四网格", g, "330101", box(120.05, 30.05, 120.1, 30.1)),
        Jurisdiction("33010201", "五网格", g, "330102", _holed((120.1, 30.0, 120.2, 30.1), HOLE)),
        Jurisdiction("33010202", "岛网格", g, "330102", box(*ISLAND)),
    ]


def jittered_tiling(
    nx: int,
    ny: int,
    bounds: tuple[float, float, float, float] = (118.5, 31.5, 119.0, 32.0),
    seed: int = 0,
) -> list[Polygon]:
    """Return nx * ny quadrilaterals tiling ``bounds`` exactly, interior vertices jittered."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1))
    cw, ch = (x1 - x0) / nx, (y1 - y0) / ny
    xs[1:-1, 1:-1] += rng.uniform(-0.3, 0.3, (ny - 1, nx - 1)) * cw
    ys[1:-1, 1:-1] += rng.uniform(-0.3, 0.3, (ny - 1, nx - 1)) * ch
    return [
        Polygon(
            [
                (xs[j, i], ys[j, i]),
                (xs[j, i + 1], ys[j, i + 1]),
                (xs[j + 1, i + 1], ys[j + 1, i + 1]),
                (xs[j + 1, i], ys[j + 1, i]),
            ]
        )
        for j in range(ny)
        for i in range(nx)
    ]


def tiling_jurisdictions(nx: int, ny: int, seed: int = 0) -> list[Jurisdiction]:
    """Return a jittered tiling as grids with codes in scrambled order."""
    polys = jittered_tiling(nx, ny, seed=seed)
    order = np.random.default_rng(seed + 1).permutation(len(polys))
    return [
        Jurisdiction(f"G{int(k):05d}", f"网格{int(k)}", Level.GRID, None, polys[i])
        for i, k in zip(range(len(polys)), order, strict=True)
    ]


def covering_codes(jurisdictions: list[Jurisdiction], lon: float, lat: float) -> list[str]:
    """Return the codes of the polygons covering a point, by brute force, sorted."""
    point = shapely.Point(lon, lat)
    return sorted(j.code for j in jurisdictions if j.geometry.covers(point))
