"""Properties of the index, the coordinate systems and the importer, on generated cases.

The oracle for the index is the boundary rule stated in ``geo.index``: a point belongs to
the lowest code among the polygons of a level that cover it, and to nothing when none does.
"""

import json
import math
from typing import Any

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Polygon

from geo import Jurisdiction, JurisdictionIndex, Level
from geo.coords import (
    _CHINA_LAT,
    _CHINA_LON,
    Crs,
    from_wgs84,
    from_wgs84_array,
    to_wgs84,
    to_wgs84_array,
)
from geo.geojson import FieldMapping, GeoJSONError, parse_feature_collection
from tests.geo.geo_cases import covering_codes, jittered_tiling
from tests.properties import REPEATABLE

# Codes of two letters: both orders of a pair turn up, so the tie-break is tested both ways.
codes = st.text(alphabet="ABCDEFGH", min_size=2, max_size=2)


@st.composite
def two_neighbours(draw: st.DrawFn) -> tuple[list[Jurisdiction], list[tuple[float, float]]]:
    """Return two jurisdictions split by a zigzag line, and the vertices of that line."""
    x0 = draw(st.floats(100.0, 125.0))
    y0 = draw(st.floats(20.0, 45.0))
    width = draw(st.floats(1e-4, 0.5))
    height = draw(st.floats(1e-4, 0.5))
    steps = draw(st.integers(1, 6))
    # The shared edge runs from the bottom to the top, wandering across the middle half.
    xs = [x0 + width * draw(st.floats(0.25, 0.75)) for _ in range(steps + 1)]
    ys = [y0 + height * k / steps for k in range(steps + 1)]
    line = list(zip(xs, ys, strict=True))
    left = Polygon([(x0, y0), *line, (x0, y0 + height)])
    right = Polygon([(x0 + width, y0), (x0 + width, y0 + height), *reversed(line)])
    a, b = draw(st.lists(codes, min_size=2, max_size=2, unique=True))
    return [
        Jurisdiction(a, "左村", Level.VILLAGE, None, left),
        Jurisdiction(b, "右村", Level.VILLAGE, None, right),
    ], line


def expected(jurisdictions: list[Jurisdiction], lon: float, lat: float) -> str | None:
    covering = covering_codes(jurisdictions, lon, lat)
    return covering[0] if covering else None


def located(index: JurisdictionIndex, lon: float, lat: float) -> str | None:
    leaf = index.locate(lon, lat).leaf
    return leaf.code if leaf else None


@REPEATABLE
@given(case=two_neighbours(), t=st.floats(0.0, 1.0), segment=st.integers(0, 5))
def test_a_point_on_the_shared_edge_belongs_to_exactly_one_by_the_rule(
    case: tuple[list[Jurisdiction], list[tuple[float, float]]], t: float, segment: int
) -> None:
    jurisdictions, line = case
    index = JurisdictionIndex.build(jurisdictions)
    # Vertices of the shared edge are covered by both polygons exactly: the lowest code wins.
    for lon, lat in line:
        assert located(index, lon, lat) == min(j.code for j in jurisdictions)
    # A point interpolated along the edge may fall a rounding error to either side, but it
    # belongs to exactly one of the two, the one the rule names.
    (ax, ay), (bx, by) = line[segment % (len(line) - 1)], line[segment % (len(line) - 1) + 1]
    lon, lat = ax + t * (bx - ax), ay + t * (by - ay)
    assert expected(jurisdictions, lon, lat) is not None
    assert located(index, lon, lat) == expected(jurisdictions, lon, lat)
    many = index.locate_many([lon, *(x for x, _ in line)], [lat, *(y for _, y in line)])
    assert many.codes[Level.VILLAGE].tolist() == [
        located(index, x, y) for x, y in [(lon, lat), *line]
    ]


@REPEATABLE
@given(case=two_neighbours(), u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0))
def test_a_point_strictly_inside_belongs_to_its_own(
    case: tuple[list[Jurisdiction], list[tuple[float, float]]], u: float, v: float
) -> None:
    jurisdictions, _ = case
    index = JurisdictionIndex.build(jurisdictions)
    for j in jurisdictions:
        # A point of the polygon shrunk by a tenth of its size is strictly inside it.
        minx, miny, maxx, maxy = j.geometry.bounds
        inner = j.geometry.buffer(-0.1 * min(maxx - minx, maxy - miny))
        if inner.is_empty:
            continue
        ix0, iy0, ix1, iy1 = inner.bounds
        lon, lat = ix0 + u * (ix1 - ix0), iy0 + v * (iy1 - iy0)
        if not inner.contains(shapely.Point(lon, lat)):
            lon, lat = inner.representative_point().coords[0]
        assert located(index, lon, lat) == j.code


@settings(REPEATABLE, max_examples=75)  # each example builds an index of up to 144 polygons
@given(
    nx=st.integers(1, 12),
    ny=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    picks=st.lists(st.tuples(st.integers(0, 10**6), st.floats(0.0, 1.0)), max_size=40),
    free=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), max_size=40),
)
def test_a_tiling_answers_by_the_rule_on_edges_vertices_and_inside(
    nx: int,
    ny: int,
    seed: int,
    picks: list[tuple[int, float]],
    free: list[tuple[float, float]],
) -> None:
    bounds = (119.0, 32.0, 119.0 + 0.01 * nx, 32.0 + 0.01 * ny)
    polygons = jittered_tiling(nx, ny, bounds, seed=seed)
    order = np.random.default_rng(seed).permutation(len(polygons))
    jurisdictions = [
        Jurisdiction(f"G{int(k):03d}", f"网格{int(k)}", Level.GRID, None, polygon)
        for polygon, k in zip(polygons, order, strict=True)
    ]
    index = JurisdictionIndex.build(jurisdictions)
    vertices = shapely.get_coordinates(np.array(polygons, dtype=object))
    points = [tuple(vertices[i % len(vertices)]) for i, _ in picks]
    for i, t in picks:
        # A point along an edge of one of the polygons: often one a neighbour shares.
        ring = polygons[i % len(polygons)].exterior.coords
        k = i % (len(ring) - 1)
        (ax, ay), (bx, by) = ring[k], ring[k + 1]
        points.append((ax + t * (bx - ax), ay + t * (by - ay)))
    x0, y0, x1, y1 = bounds
    # Points anywhere in and a little around the tiling, outside included.
    w, h = x1 - x0 + 0.02, y1 - y0 + 0.02
    points += [(x0 - 0.01 + u * w, y0 - 0.01 + v * h) for u, v in free]
    for lon, lat in points:
        assert located(index, lon, lat) == expected(jurisdictions, lon, lat), (lon, lat)
    if points:
        lons, lats = zip(*points, strict=True)
        many = index.locate_many(lons, lats).codes[Level.GRID].tolist()
        assert many == [expected(jurisdictions, x, y) or "" for x, y in points]


# Coordinate systems -------------------------------------------------------------------------

# Inside China's box the offsets apply; within about 0.02 degrees of its edge an offset point
# can land on the other side of it, where the systems are identical, so the conversions are
# stated where the box and its offset image agree.
MARGIN = 0.05
china_lon = st.floats(_CHINA_LON[0] + MARGIN, _CHINA_LON[1] - MARGIN)
china_lat = st.floats(_CHINA_LAT[0] + MARGIN, _CHINA_LAT[1] - MARGIN)
offset_crs = st.sampled_from([Crs.GCJ02, Crs.BD09])
# 1e-9 degrees is about 0.1 mm: far below anything a phone reports.
TOLERANCE = 1e-9
# The array and scalar versions differ only by rounding (see geo.coords).
AGREE = 1e-11


@REPEATABLE
@given(lon=china_lon, lat=china_lat, crs=offset_crs)
def test_to_and_from_wgs84_round_trip(lon: float, lat: float, crs: Crs) -> None:
    there = from_wgs84(lon, lat, crs)
    back = to_wgs84(*there, crs)
    assert math.dist(back, (lon, lat)) < TOLERANCE
    # The offset is real (tens to hundreds of metres), so the round trip is not trivial.
    assert math.dist(there, (lon, lat)) > 1e-5
    again = from_wgs84(*to_wgs84(lon, lat, crs), crs)
    assert math.dist(again, (lon, lat)) < TOLERANCE


@REPEATABLE
@given(points=st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20), crs=offset_crs)
def test_the_array_conversions_agree_with_the_scalar_ones(
    points: list[tuple[float, float]], crs: Crs
) -> None:
    lons, lats = (list(c) for c in zip(*points, strict=True))
    ax, ay = to_wgs84_array(lons, lats, crs)
    fx, fy = from_wgs84_array(lons, lats, crs)
    for i, (lon, lat) in enumerate(points):
        assert math.dist((ax[i], ay[i]), to_wgs84(lon, lat, crs)) < AGREE
        assert math.dist((fx[i], fy[i]), from_wgs84(lon, lat, crs)) < AGREE


@REPEATABLE
@given(
    lon=st.floats(-180.0, 180.0),
    lat=st.floats(-90.0, 90.0),
    crs=st.sampled_from(list(Crs)),
)
def test_outside_china_every_system_is_wgs84(lon: float, lat: float, crs: Crs) -> None:
    inside = _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]
    if crs == Crs.WGS84 or not inside:
        assert to_wgs84(lon, lat, crs) == (lon, lat)
        assert from_wgs84(lon, lat, crs) == (lon, lat)


# The GeoJSON importer ------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.sampled_from([120.0, 30.0, 500_000.0, 1e308]),
)
words = st.sampled_from(
    ["Polygon", "MultiPolygon", "Feature", "FeatureCollection", "GeometryCollection", "Point"]
)
keys = st.sampled_from(
    ["type", "coordinates", "geometries", "geometry", "properties", "name", "features", "crs"]
)
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4), words),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=30,
)
rings = st.lists(st.tuples(st.floats(119.0, 121.0), st.floats(29.0, 31.0)), max_size=6).map(
    lambda r: [list(p) for p in (*r, *r[:1])]
)
geometries = st.one_of(
    junk,
    st.fixed_dictionaries(
        {
            "type": words,
            "coordinates": st.one_of(
                st.lists(rings, max_size=3), st.lists(st.lists(rings, max_size=2), max_size=2), junk
            ),
        }
    ),
)
features = st.one_of(
    junk,
    st.fixed_dictionaries(
        {
            "type": st.just("Feature"),
            "properties": st.fixed_dictionaries(
                {"name": st.one_of(st.text(max_size=4), numbers, st.none())}
            ),
            "geometry": geometries,
        }
    ),
)
collections = st.fixed_dictionaries(
    {"type": st.just("FeatureCollection"), "features": st.lists(features, max_size=5)}
)
files = st.one_of(junk, collections)


@REPEATABLE
@given(data=files, as_text=st.booleans())
def test_the_importer_refuses_anything_with_a_message_and_keeps_only_lonlat_polygons(
    data: Any, as_text: bool
) -> None:
    if as_text or not isinstance(data, dict):
        data = json.dumps(data)
    try:
        layer = parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))
    except GeoJSONError as refused:
        assert str(refused)
        return
    for problem in [*layer.refused, *layer.repaired]:
        assert problem.message.startswith(f"第{problem.number}个要素")
    for j in layer.jurisdictions:
        assert j.geometry.is_valid and not j.geometry.is_empty
        minx, miny, maxx, maxy = j.geometry.bounds
        assert -180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0
