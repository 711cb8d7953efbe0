"""JurisdictionIndex: the boundary rule, levels, holes, islands, neighbours and bad input."""

import math
import random

import numpy as np
import pytest
import shapely
from shapely import box

from geo import CoordinateError, Crs, Jurisdiction, JurisdictionIndex, Level, from_wgs84
from geo.index import OUTSIDE_REASON, Neighbour
from tests.geo.geo_cases import ISLAND, covering_codes, hierarchy, tiling_jurisdictions

M_PER_DEG = 6371008.8 * math.pi / 180.0


def chain_codes(index: JurisdictionIndex, lon: float, lat: float) -> list[str]:
    return [j.code for j in index.locate(lon, lat).chain]


def code_of(found: Jurisdiction | Neighbour | None) -> str | None:
    return found.code if found is not None else None


def get(index: JurisdictionIndex, code: str) -> Jurisdiction:
    found = index.get(code)
    assert found is not None, code
    return found


@pytest.mark.parametrize(
    ("case", "lon", "lat", "expected"),
    [
        ("interior", 120.025, 30.025, ["3301", "330101", "33010101"]),
        ("interior of another grid", 120.075, 30.075, ["3301", "330101", "33010104"]),
        ("shared grid edge: lowest code", 120.05, 30.02, ["3301", "330101", "33010101"]),
        ("shared township edge", 120.1, 30.02, ["3301", "330101", "33010102"]),
        ("shared vertex of four grids", 120.05, 30.05, ["3301", "330101", "33010101"]),
        ("shared vertex across townships", 120.1, 30.05, ["3301", "330101", "33010102"]),
        ("outer edge belongs to the polygon", 120.0, 30.02, ["3301", "330101", "33010101"]),
        ("in a hole: falls to the township", 120.142, 30.05, ["3301", "330102"]),
        ("on the hole's ring", 120.14, 30.05, ["3301", "330102", "33010201"]),
        ("island inside the hole", 120.15, 30.05, ["3301", "330102", "33010202"]),
        ("multipolygon island", 120.025, 30.125, ["3301", "330101", "33010101"]),
        ("township without grids", 120.3, 30.05, ["3302", "330201"]),
        ("outside everything", 121.0, 31.0, []),
    ],
)
def test_locate_chain(
    index: JurisdictionIndex, case: str, lon: float, lat: float, expected: list[str]
) -> None:
    assert chain_codes(index, lon, lat) == expected, case


def test_outside_sets_reason_and_nothing_else(index: JurisdictionIndex) -> None:
    loc = index.locate(121.0, 31.0)
    assert loc.chain == ()
    assert loc.leaf is None
    assert loc.near_boundary is None
    assert loc.reason == OUTSIDE_REASON
    assert "坐标不在任何辖区内" in loc.reason


def test_location_at_and_leaf(index: JurisdictionIndex) -> None:
    loc = index.locate(120.15, 30.05)
    assert code_of(loc.at(Level.COUNTY)) == "3301"
    assert code_of(loc.at(Level.TOWNSHIP)) == "330102"
    assert loc.at(Level.VILLAGE) is None
    assert loc.leaf is not None and loc.leaf.code == "33010202"
    assert loc.reason is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tie_break_is_independent_of_input_order(seed: int) -> None:
    shuffled = hierarchy()
    random.Random(seed).shuffle(shuffled)
    index = JurisdictionIndex.build(shuffled)
    for lon, lat, code in [(120.05, 30.02, "33010101"), (120.05, 30.05, "33010101")]:
        assert code_of(index.locate(lon, lat).leaf) == code


@pytest.mark.parametrize(
    ("case", "lon", "lat", "code", "distance_m", "differs_at"),
    [
        # 0.0005 deg of longitude at 30.02 N is about 48.1 m.
        ("near a grid border", 120.0495, 30.02, "33010102", 48.1, Level.GRID),
        ("near a township border", 120.0999, 30.02, "33010201", 9.6, Level.TOWNSHIP),
        ("on a shared edge", 120.05, 30.02, "33010102", 0.0, Level.GRID),
        # G2 (11 m below) is nearer, but the township border (38.5 m) matters more.
        (
            "township border beats a nearer grid border",
            120.0996,
            30.0501,
            "33010201",
            38.5,
            Level.TOWNSHIP,
        ),
    ],
)
def test_near_boundary(
    index: JurisdictionIndex,
    case: str,
    lon: float,
    lat: float,
    code: str,
    distance_m: float,
    differs_at: Level,
) -> None:
    near = index.locate(lon, lat).near_boundary
    assert near is not None, case
    assert near.code == code, case
    assert near.distance_m == pytest.approx(distance_m, abs=0.3), case
    assert near.differs_at == differs_at, case
    assert near.level == get(index, code).level


@pytest.mark.parametrize(
    ("case", "lon", "lat"),
    [
        ("deep inside", 120.025, 30.025),
        ("near the outer edge of everything", 120.0002, 30.02),
        ("just beyond the near distance", 120.0494, 30.02),
    ],
)
def test_not_near_boundary(index: JurisdictionIndex, case: str, lon: float, lat: float) -> None:
    loc = index.locate(lon, lat)
    assert loc.chain, case
    assert loc.near_boundary is None, case


def test_near_distance_is_configurable() -> None:
    index = JurisdictionIndex.build(hierarchy(), near_distance_m=10.0)
    assert index.locate(120.0495, 30.02).near_boundary is None
    assert code_of(index.locate(120.0499, 30.02).near_boundary) == "33010102"


@pytest.mark.parametrize(
    ("lon", "lat", "field", "fragment"),
    [
        (float("nan"), 30.0, "lon", "不是有效的数字"),
        (120.0, float("nan"), "lat", "不是有效的数字"),
        (float("inf"), 30.0, "lon", "无穷大"),
        (120.0, float("-inf"), "lat", "无穷大"),
        (200.0, 30.0, "lon", "超出"),
        (120.0, 95.0, "lat", "超出"),
        (39.9, 116.4, "lat", "填反"),
        (30.0, 80.0, "lat", "填反"),
        ("abc", 30.0, "lon", "应为数字"),
        (None, 30.0, "lon", "应为数字"),
    ],
)
def test_invalid_coordinates_raise_naming_the_field(
    index: JurisdictionIndex, lon: object, lat: object, field: str, fragment: str
) -> None:
    with pytest.raises(CoordinateError) as caught:
        index.locate(lon, lat)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_integer_coordinates_are_accepted(index: JurisdictionIndex) -> None:
    assert chain_codes(index, 120, 30) == ["3301", "330101", "33010101"]


def test_locate_in_gcj02(index: JurisdictionIndex) -> None:
    glon, glat = from_wgs84(120.025, 30.025, Crs.GCJ02)
    assert (glon, glat) != (120.025, 30.025)
    assert code_of(index.locate(glon, glat, Crs.GCJ02).leaf) == "33010101"


def test_chain_follows_parent_pointers_and_fills_missing_levels() -> None:
    county = Jurisdiction("3301", "东县", Level.COUNTY, None, box(120.0, 30.0, 120.2, 30.1))
    orphan = Jurisdiction("g1", "孤网格", Level.GRID, None, box(120.0, 30.0, 120.1, 30.1))
    index = JurisdictionIndex.build([county, orphan])
    assert chain_codes(index, 120.05, 30.05) == ["3301", "g1"]
    many = index.locate_many(np.array([120.05]), np.array([30.05]))
    assert many.codes[Level.COUNTY][0] == "3301"
    assert many.codes[Level.GRID][0] == "g1"


def test_build_refuses_bad_input() -> None:
    a = Jurisdiction("a", "甲", Level.GRID, None, box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="duplicate"):
        JurisdictionIndex.build([a, a])
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(ValueError, match="invalid geometries"):
        JurisdictionIndex.build([Jurisdiction("b", "乙", Level.GRID, None, bowtie)])
    upside_down = Jurisdiction("c", "丙", Level.COUNTY, "a", box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="not above"):
        JurisdictionIndex.build([a, upside_down])


def test_empty_index() -> None:
    index = JurisdictionIndex.build([])
    assert len(index) == 0
    loc = index.locate(120.0, 30.0)
    assert loc.chain == () and loc.reason


def test_accessors(index: JurisdictionIndex) -> None:
    assert len(index) == 11
    assert index.levels == (Level.COUNTY, Level.TOWNSHIP, Level.GRID)
    assert get(index, "330102").name == "乙镇"
    assert index.get("nope") is None
    assert [j.code for j in index.children("330101")] == [
        "33010101",
        "33010102",
        "33010103",
        "33010104",
    ]
    assert [j.code for j in index.chain("33010202")] == ["3301", "330102", "33010202"]
    assert [j.code for j in index.at_level(Level.COUNTY)] == ["3301", "3302"]


def test_matches_brute_force_on_a_jittered_tiling(
    tiling: list[Jurisdiction], tiling_index: JurisdictionIndex
) -> None:
    rng = np.random.default_rng(7)
    xs = rng.uniform(118.49, 119.01, 1500)
    ys = rng.uniform(31.49, 32.01, 1500)
    # Add points exactly on shared vertices, where several polygons cover the point.
    vertices = shapely.get_coordinates([j.geometry for j in tiling[:60]])
    xs = np.concatenate([xs, vertices[:, 0]])
    ys = np.concatenate([ys, vertices[:, 1]])
    geoms = np.array([j.geometry for j in tiling], dtype=object)
    tree = shapely.STRtree(geoms)
    for lon, lat in zip(xs.tolist(), ys.tolist(), strict=True):
        covering = covering_codes(tiling, lon, lat)
        loc = tiling_index.locate(lon, lat)
        assert (loc.leaf.code if loc.leaf else None) == (covering[0] if covering else None)
        if loc.leaf is None:
            continue
        # Neighbours by brute force, in the same local metric frame.
        kx = math.cos(math.radians(lat)) * M_PER_DEG
        frame = [kx, 0.0, 0.0, M_PER_DEG, -lon * kx, -lat * M_PER_DEG]
        nearby = tree.query(shapely.Point(lon, lat), predicate="dwithin", distance=0.002)
        distances = sorted(
            shapely.affinity.affine_transform(geoms[k], frame).distance(shapely.Point(0, 0))
            for k in nearby.tolist()
            if tiling[k].code != loc.leaf.code
        )
        nearest = distances[0] if distances and distances[0] <= 50.0 else None
        if nearest is None:
            assert loc.near_boundary is None
        else:
            assert loc.near_boundary is not None
            assert loc.near_boundary.distance_m == pytest.approx(nearest, abs=0.05)


def test_locate_many_agrees_with_locate(tiling_index: JurisdictionIndex) -> None:
    rng = np.random.default_rng(11)
    xs = rng.uniform(118.49, 119.01, 3000)
    ys = rng.uniform(31.49, 32.01, 3000)
    many = tiling_index.locate_many(xs, ys)
    assert many.valid.all()
    for i, (lon, lat) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
        loc = tiling_index.locate(lon, lat)
        assert many.codes[Level.GRID][i] == (loc.leaf.code if loc.leaf else "")
        assert bool(many.near_boundary[i]) == (loc.near_boundary is not None)


def test_locate_many_flags_invalid_rows(index: JurisdictionIndex) -> None:
    xs = np.array([120.025, np.nan, 200.0, 39.9, 120.3, 121.0])
    ys = np.array([30.025, 30.0, 30.0, 116.4, 30.05, 31.0])
    many = index.locate_many(xs, ys)
    assert many.valid.tolist() == [True, False, False, False, True, True]
    assert many.codes[Level.GRID].tolist() == ["33010101", "", "", "", "", ""]
    assert many.codes[Level.TOWNSHIP].tolist() == ["330101", "", "", "", "330201", ""]
    assert many.codes[Level.COUNTY].tolist() == ["3301", "", "", "", "3302", ""]
    assert many.located().tolist() == [True, False, False, False, True, False]
    assert len(many) == 6


def test_locate_many_on_edges_and_islands_matches_locate(index: JurisdictionIndex) -> None:
    points = [
        (120.05, 30.02),
        (120.05, 30.05),
        (120.1, 30.02),
        (120.142, 30.05),
        (120.15, 30.05),
        (ISLAND[0], ISLAND[1]),
        (120.025, 30.125),
        (120.0996, 30.0501),
    ]
    xs, ys = np.array(points).T
    many = index.locate_many(xs, ys)
    for i, (lon, lat) in enumerate(points):
        loc = index.locate(lon, lat)
        for level in (Level.COUNTY, Level.TOWNSHIP, Level.GRID):
            expected = loc.at(level)
            assert many.codes[level][i] == (expected.code if expected else "")
        assert bool(many.near_boundary[i]) == (loc.near_boundary is not None)


def test_results_do_not_depend_on_input_order() -> None:
    a = JurisdictionIndex.build(tiling_jurisdictions(8, 8, seed=3))
    b = JurisdictionIndex.build(list(reversed(tiling_jurisdictions(8, 8, seed=3))))
    rng = np.random.default_rng(5)
    for lon, lat in zip(rng.uniform(118.5, 119.0, 300), rng.uniform(31.5, 32.0, 300), strict=True):
        assert a.locate(float(lon), float(lat)) == b.locate(float(lon), float(lat))
