"""The demo county's territory: nested, gap-free tilings built from seeded Voronoi cells.

Each level is cut from the one above with Voronoi cells of seeded points (relaxed a few
times towards their centroids so the shapes look like administrative areas). Floating-point
overlay cannot guarantee that neighbouring pieces share identical edges, so the finest level
is rebuilt at the end from one snap-rounded, fully noded set of lines: every face is owned by
exactly one grid, and villages, townships and the county are coverage unions of their grids.
Shared edges are therefore bit-identical at every level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, shape

from dispatch.demo.catalogue import COUNTY_CODE, COUNTY_NAME, TOWNSHIPS, TownshipSpec

#: Coordinates are snapped to this grid (degrees): seven decimals, about a centimetre.
GRID_SIZE = 1e-7

#: The real Jiangsu county whose outline the fictional county borrows.
OUTLINE_COUNTY = "建湖县"

#: Simplification of the borrowed outline (degrees, about 20 m): keeps the files small.
OUTLINE_TOLERANCE = 0.0002

#: Radius of the urban core that the three 街道 share (km), before its wobble.
URBAN_RADIUS_KM = 5.2

KM_PER_DEGREE_LAT = 111.32


@dataclass(frozen=True)
class Area:
    """One jurisdiction of the demo county with its final geometry."""

    level: str
    code: str
    name: str
    parent_code: str | None
    population: int
    geometry: Polygon


def load_outline(outline_dir: Path) -> Polygon:
    """Read the borrowed county outline from the Jiangsu boundary file, simplified."""
    with (outline_dir / "jiangsu_counties.geojson").open(encoding="utf-8") as handle:
        collection = json.load(handle)
    for feature in collection["features"]:
        if feature["properties"].get("name") == OUTLINE_COUNTY:
            parts = shapely.get_parts(shape(feature["geometry"]))
            largest = max(parts, key=lambda part: part.area)
            return Polygon(largest.simplify(OUTLINE_TOLERANCE, preserve_topology=True).exterior)
    raise LookupError(f"{OUTLINE_COUNTY} not found in the outline file")


def build_territory(outline: Polygon, seed: int) -> list[Area]:
    """Tile the outline into townships, villages and grids; return every area, county first."""
    rng = np.random.default_rng(seed)
    km_per_degree_lon = KM_PER_DEGREE_LAT * math.cos(math.radians(outline.centroid.y))
    township_cells = _townships(outline, rng, km_per_degree_lon)

    # Float-precision hierarchy: grid_cells[township][village] is that village's grid cells.
    grid_cells: list[list[list[Polygon]]] = []
    for spec, cell in zip(TOWNSHIPS, township_cells, strict=True):
        villages = _tile_relaxed(cell, len(spec.villages), rng, iterations=8)
        grid_cells.append(
            [
                _tile_relaxed(village, _grid_count(spec, rng), rng, iterations=4)
                for village in villages
            ]
        )

    flat = [grid for villages in grid_cells for grids in villages for grid in grids]
    final = iter(_exact_coverage(flat))
    return _assemble(grid_cells, final, rng)


def _townships(outline: Polygon, rng: np.random.Generator, km_lon: float) -> list[Polygon]:
    """Cut the county into the urban core's 街道 and the surrounding 镇, in catalogue order."""
    seat = outline.centroid
    core = _urban_core(seat.x, seat.y, rng, km_lon).intersection(outline)
    streets = [spec for spec in TOWNSHIPS if spec.kind == "街道"]
    towns = [spec for spec in TOWNSHIPS if spec.kind == "镇"]

    # Street seeds start on fixed bearings (城关 to the west, 城东 east, 城南 south) so the
    # names match the places; relaxation keeps their order.
    radius = URBAN_RADIUS_KM / 2
    bearings = np.radians((160.0, 20.0, -90.0))[: len(streets)]
    street_seeds = np.column_stack(
        (
            seat.x + radius * np.cos(bearings) / km_lon,
            seat.y + radius * np.sin(bearings) / KM_PER_DEGREE_LAT,
        )
    )
    street_cells = _tile_relaxed(core, len(streets), rng, iterations=6, seeds=street_seeds)

    rural = outline.difference(core)
    town_cells = _tile_relaxed(rural, len(towns), rng, iterations=15)
    # Towns are named clockwise from north around the seat, so the catalogue's groups of
    # neighbouring towns (served by one stationed unit) are neighbours on the map too.
    bearing = [
        (math.atan2(c.centroid.x - seat.x, c.centroid.y - seat.y)) % (2 * math.pi)
        for c in town_cells
    ]
    town_cells = [town_cells[i] for i in np.argsort(bearing, kind="stable")]
    cells = iter(street_cells)
    others = iter(town_cells)
    return [next(cells) if spec.kind == "街道" else next(others) for spec in TOWNSHIPS]


def _urban_core(x: float, y: float, rng: np.random.Generator, km_lon: float) -> Polygon:
    """Return a wobbly disc around the county seat: the built-up area of the three 街道."""
    phase = rng.uniform(0, 2 * math.pi, size=2)
    angles = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    r = URBAN_RADIUS_KM * (
        1 + 0.18 * np.sin(3 * angles + phase[0]) + 0.08 * np.sin(5 * angles + phase[1])
    )
    xs = x + r * np.cos(angles) / km_lon
    ys = y + r * np.sin(angles) / KM_PER_DEGREE_LAT
    return Polygon(np.column_stack((xs, ys)))


def _grid_count(spec: TownshipSpec, rng: np.random.Generator) -> int:
    """Return how many grids one village gets: communities are denser than villages."""
    low, high = (8, 12) if spec.kind == "街道" else (5, 8)
    return int(rng.integers(low, high + 1))


def _tile_relaxed(
    region: Polygon,
    count: int,
    rng: np.random.Generator,
    iterations: int,
    seeds: np.ndarray | None = None,
) -> list[Polygon]:
    """Tile region into count single-part cells, ordered from the centre outwards, clockwise."""
    points = _sample_points(region, count, rng) if seeds is None else seeds.copy()
    for _ in range(iterations):
        cells = _voronoi_cells(region, points)
        for i, cell in enumerate(cells):
            centre = cell.centroid
            if not region.contains(centre):
                centre = cell.point_on_surface()
            points[i] = (centre.x, centre.y)
    tiles = _merge_detached(_voronoi_cells(region, points), points)
    return _centre_first(tiles, region) if seeds is None else tiles


def _sample_points(region: Polygon, count: int, rng: np.random.Generator) -> np.ndarray:
    """Draw count uniformly random points inside region."""
    minx, miny, maxx, maxy = region.bounds
    found: list[np.ndarray] = []
    total = 0
    while total < count:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(4 * count, 2))
        inside = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        found.append(inside)
        total += len(inside)
    return np.concatenate(found)[:count]


def _voronoi_cells(region: Polygon, points: np.ndarray) -> list[Polygon]:
    """Return the Voronoi cell of each point clipped to region, in the order of the points."""
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(points), extend_to=region.envelope.buffer(0.05), ordered=True
    )
    cells = shapely.intersection(shapely.get_parts(diagram), region)
    return [_polygons_only(cell) for cell in cells]


def _polygons_only(geometry: shapely.Geometry) -> shapely.Geometry:
    """Drop the points and lines an overlay may leave beside its polygons."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type == "Polygon" and p.area > 0]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _merge_detached(cells: list[shapely.Geometry], points: np.ndarray) -> list[Polygon]:
    """Keep the part of each cell holding its seed; give detached parts to their best neighbour.

    A convex Voronoi cell clipped to a concave parent can fall apart; real townships rarely
    have exclaves, so each stray part joins the neighbour it shares the longest edge with.
    """
    mains: list[Polygon] = []
    strays: list[Polygon] = []
    for cell, (x, y) in zip(cells, points, strict=True):
        parts = list(shapely.get_parts(cell))
        holder = next((p for p in parts if shapely.contains_xy(p, x, y)), None)
        main = holder or max(parts, key=lambda p: p.area)
        mains.append(main)
        strays.extend(p for p in parts if p is not main)
    while strays:
        stray = strays.pop(0)
        shared = [shapely.length(shapely.intersection(stray.boundary, m.boundary)) for m in mains]
        best = int(np.argmax(shared))
        if shared[best] <= 0:
            raise ValueError("a detached piece of a Voronoi cell touches no neighbour")
        merged = shapely.union(mains[best], stray)
        if merged.geom_type != "Polygon":
            # Float noise along the shared edge; the final snap-rounding pass cleans it.
            merged = max(shapely.get_parts(merged), key=lambda p: p.area)
        mains[best] = merged
    return mains


def _centre_first(tiles: list[Polygon], region: Polygon) -> list[Polygon]:
    """Order tiles like a numbering clerk would: the central one first, then clockwise."""
    centre = region.point_on_surface()
    centroids = [t.centroid for t in tiles]
    distance = [c.distance(centre) for c in centroids]
    first = int(np.argmin(distance))
    bearing = [math.atan2(c.x - centre.x, c.y - centre.y) % (2 * math.pi) for c in centroids]
    rest = sorted((i for i in range(len(tiles)) if i != first), key=lambda i: bearing[i])
    return [tiles[first], *(tiles[i] for i in rest)]


def _exact_coverage(cells: list[Polygon]) -> list[Polygon]:
    """Rebuild cells from one snap-rounded, noded set of lines so that shared edges coincide."""
    lines = shapely.union_all(shapely.boundary(np.array(cells, dtype=object)), grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    tree = shapely.STRtree(cells)
    owned: list[list[Polygon]] = [[] for _ in cells]
    for face in faces:
        candidates = tree.query(face)
        overlap = shapely.area(shapely.intersection(face, np.take(cells, candidates)))
        if overlap.max() > 0:
            owner = int(candidates[int(np.argmax(overlap))])
        else:
            # A snapping gap: give it to the cell it borders most.
            edges = shapely.length(
                shapely.intersection(face.boundary, shapely.boundary(np.take(cells, candidates)))
            )
            owner = int(candidates[int(np.argmax(edges))])
        owned[owner].append(face)
    result: list[Polygon] = []
    for pieces in owned:
        merged = pieces[0] if len(pieces) == 1 else shapely.coverage_union_all(pieces)
        if merged.geom_type != "Polygon":
            raise ValueError("a grid fell apart while snapping; change the seed")
        result.append(merged)
    return result


def _assemble(
    grid_cells: list[list[list[Polygon]]], final: Iterator[Polygon], rng: np.random.Generator
) -> list[Area]:
    """Name, code and count the people of every area; derive parents from their grids."""
    county_parts: list[Polygon] = []
    township_areas: list[Area] = []
    village_areas: list[Area] = []
    grid_areas: list[Area] = []
    for t_index, (spec, villages) in enumerate(zip(TOWNSHIPS, grid_cells, strict=True), start=1):
        t_code = f"{COUNTY_CODE}{t_index:03d}"
        t_parts: list[Polygon] = []
        t_population = 0
        for v_index, (v_name, grids) in enumerate(zip(spec.villages, villages, strict=True), 1):
            v_code = f"{t_code}{v_index:03d}"
            v_parts: list[Polygon] = []
            v_population = 0
            for g_index in range(1, len(grids) + 1):
                geometry = next(final)
                low, high = (1200, 2600) if spec.kind == "街道" else (600, 1400)
                population = int(rng.integers(low, high + 1))
                grid_areas.append(
                    Area(
                        "grid",
                        f"{v_code}{g_index:03d}",
                        f"{spec.name}{v_name}第{g_index}网格",
                        v_code,
                        population,
                        geometry,
                    )
                )
                v_parts.append(geometry)
                v_population += population
            v_geometry = _union(v_parts)
            village_areas.append(Area("village", v_code, v_name, t_code, v_population, v_geometry))
            t_parts.append(v_geometry)
            t_population += v_population
        t_geometry = _union(t_parts)
        township_areas.append(
            Area("township", t_code, spec.name, COUNTY_CODE, t_population, t_geometry)
        )
        county_parts.append(t_geometry)
    county = Area(
        "county",
        COUNTY_CODE,
        COUNTY_NAME,
        None,
        sum(a.population for a in township_areas),
        _union(county_parts),
    )
    return [county, *township_areas, *village_areas, *grid_areas]


def _union(parts: list[Polygon]) -> Polygon:
    """Dissolve an exact coverage into one polygon, keeping every vertex on the shared edges."""
    merged = parts[0] if len(parts) == 1 else shapely.coverage_union_all(parts)
    if merged.geom_type != "Polygon":
        raise ValueError("children of one parent do not form a single polygon")
    return merged
