"""The committed demo data: reproducible, nested exactly, and internally consistent."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import shapely
from openpyxl import load_workbook
from shapely.geometry import shape

from dispatch.demo import DATA_DIR, LAYER_FILES, demo_file
from dispatch.demo.generate import generate
from tests.conftest import TEST_DATA

LEVELS = tuple(LAYER_FILES)
COUNT_RANGES = {"county": (1, 1), "township": (10, 14), "village": (70, 90), "grid": (500, 700)}
MATTER_CODE = re.compile(r"^[A-D]-\d{3}$")
PLATFORM_LETTER = {"A": "综治工作", "B": "市场监管", "C": "综合执法", "D": "便民服务"}
COMMITTED = (
    "county.geojson",
    "townships.geojson",
    "villages.geojson",
    "grids.geojson",
    "departments.csv",
    "departments.xlsx",
    "matter_list.csv",
    "matter_list.xlsx",
    "matter_list_v2.csv",
    "labelled_descriptions.csv",
    "platforms.json",
    "README.md",
)


@cache
def features(level: str) -> tuple[dict, ...]:
    """Return the features of one level's GeoJSON file."""
    with demo_file(LAYER_FILES[level]).open(encoding="utf-8") as handle:
        return tuple(json.load(handle)["features"])


@cache
def geometries(level: str) -> dict[str, shapely.Geometry]:
    """Return code -> geometry for one level."""
    return {f["properties"]["code"]: shape(f["geometry"]) for f in features(level)}


def read_csv(name: str) -> list[list[str]]:
    """Read a demo CSV (BOM or not) into rows, header first."""
    with demo_file(name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_xlsx(name: str) -> list[list[str]]:
    """Read the first sheet of a demo XLSX into rows of strings, empty cells as ''."""
    workbook = load_workbook(demo_file(name), read_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        return [["" if v is None else str(v) for v in row] for row in rows]
    finally:
        workbook.close()


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    """Turn header-first rows into dictionaries."""
    header, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def split_list(value: str) -> list[str]:
    """Split a 「、」-separated cell; an empty cell is an empty list."""
    return value.split("、") if value else []


# Files and reproducibility -------------------------------------------------------------------


def test_every_committed_file_exists_and_is_not_empty() -> None:
    for name in COMMITTED:
        assert demo_file(name).stat().st_size > 0, name


def test_demo_file_refuses_unknown_and_outside_names() -> None:
    assert demo_file("grids.geojson") == DATA_DIR / "grids.geojson"
    with pytest.raises(FileNotFoundError):
        demo_file("nope.csv")
    with pytest.raises(FileNotFoundError):
        demo_file("../__init__.py")


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    written = generate(tmp_path, TEST_DATA)
    assert sorted(p.name for p in written) == sorted(COMMITTED)
    differing = [p.name for p in written if p.read_bytes() != (DATA_DIR / p.name).read_bytes()]
    assert not differing, (
        f"regenerated files differ from the committed ones: {differing}; "
        "run `python -m dispatch.demo.generate` (a GEOS or openpyxl upgrade can cause this)"
    )


# Territory -----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_layer_counts_properties_and_validity(level: str) -> None:
    low, high = COUNT_RANGES[level]
    layer = features(level)
    assert low <= len(layer) <= high
    codes = [f["properties"]["code"] for f in layer]
    assert len(set(codes)) == len(codes)
    digits = {"county": 6, "township": 9, "village": 12, "grid": 15}[level]
    for feature in layer:
        props = feature["properties"]
        assert re.fullmatch(rf"320999\d{{{digits - 6}}}", props["code"]), props["code"]
        assert props["name"] and props["level"] == level and props["note"]
        assert isinstance(props["population"], int) and props["population"] > 0
        assert ("parent_code" in props) == (level != "county")
        geometry = shape(feature["geometry"])
        assert geometry.geom_type == "Polygon" and geometry.is_valid and not geometry.is_empty


@pytest.mark.parametrize("level", LEVELS[1:])
def test_children_tile_their_parent_exactly(level: str) -> None:
    parent_level = LEVELS[LEVELS.index(level) - 1]
    parents = geometries(parent_level)
    children: dict[str, list[shapely.Geometry]] = defaultdict(list)
    population: Counter[str] = Counter()
    for feature in features(level):
        props = feature["properties"]
        assert props["parent_code"] in parents, props["code"]
        assert props["code"].startswith(props["parent_code"])
        children[props["parent_code"]].append(shape(feature["geometry"]))
        population[props["parent_code"]] += props["population"]
    assert set(children) == set(parents), "every parent has children"
    parent_population = {
        f["properties"]["code"]: f["properties"]["population"] for f in features(parent_level)
    }
    for code, parent in parents.items():
        union = shapely.union_all(children[code])
        assert shapely.symmetric_difference(union, parent).area / parent.area < 1e-9, code
        assert population[code] == parent_population[code], code


@pytest.mark.parametrize("level", LEVELS[1:])
def test_siblings_do_not_overlap_and_share_edges_exactly(level: str) -> None:
    polygons = np.array(list(geometries(level).values()), dtype=object)
    assert shapely.coverage_is_valid(polygons), "shared edges must have identical vertices"
    left, right = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(polygons[left[pairs]], polygons[right[pairs]]))
    assert overlap.max(initial=0.0) < 1e-12


def test_county_is_labelled_illustrative() -> None:
    (county,) = features("county")
    assert "示例" in county["properties"]["name"]
    assert county["properties"]["note"] == "示例数据，边界仅作演示"


# Departments ---------------------------------------------------------------------------------

DEPARTMENT_COLUMNS = ["部门名称", "简称", "类型", "上级部门", "覆盖乡镇", "编制数", "实有人数"]


def test_departments_are_consistent() -> None:
    rows = read_csv("departments.csv")
    assert rows[0] == DEPARTMENT_COLUMNS
    departments = as_dicts(rows)
    for column in ("部门名称", "简称"):
        values = [d[column] for d in departments]
        assert len(set(values)) == len(values), f"duplicate {column}"
    assert {d["类型"] for d in departments} == {"县级部门", "派驻机构"}
    county_departments = {d["部门名称"] for d in departments if d["类型"] == "县级部门"}
    townships = {f["properties"]["name"] for f in features("township")}
    coverage: dict[str, Counter[str]] = defaultdict(Counter)
    for d in departments:
        authorised, actual = int(d["编制数"]), int(d["实有人数"])
        assert 0 < actual <= authorised
        if d["类型"] == "县级部门":
            assert not d["上级部门"] and not d["覆盖乡镇"]
            continue
        assert d["上级部门"] in county_departments
        covered = split_list(d["覆盖乡镇"])
        assert covered and set(covered) <= townships
        coverage[d["上级部门"]].update(covered)
    assert coverage, "some departments have stationed units"
    for parent, counts in coverage.items():
        assert set(counts) == townships, f"{parent} leaves townships uncovered"
        assert set(counts.values()) == {1}, f"{parent} covers a township twice"
    assert any(int(d["实有人数"]) < int(d["编制数"]) for d in departments)


def test_department_csv_has_bom_and_matches_xlsx() -> None:
    assert demo_file("departments.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_csv("departments.csv") == read_xlsx("departments.xlsx")


# Matter lists --------------------------------------------------------------------------------

MATTER_COLUMNS = [
    "序号",
    "事项编码",
    "牵头部门",
    "事项名称",
    "实施依据",
    "县级部门职责",
    "乡镇(街道)职责",
    "协同部门",
    "平台",
    "关键词",
    "签收时限(小时)",
    "办结时限(工作日)",
    "紧急签收时限(小时)",
    "紧急办结时限(小时)",
    "处置方式",
]


def platforms() -> list[dict[str, object]]:
    """Return the platforms of platforms.json."""
    return json.loads(demo_file("platforms.json").read_text(encoding="utf-8"))


def test_platforms_are_the_four_defaults() -> None:
    listed = platforms()
    assert [p["name"] for p in listed] == ["综治工作", "市场监管", "综合执法", "便民服务"]
    assert len({p["code"] for p in listed}) == 4


def check_matter_list(name: str) -> list[dict[str, str]]:
    """Assert the invariants every version of the list keeps; return its rows."""
    rows = read_csv(name)
    assert rows[0] == MATTER_COLUMNS
    matters = as_dicts(rows)
    departments = {d["部门名称"] for d in as_dicts(read_csv("departments.csv"))}
    platform_names = {p["name"] for p in platforms()}
    assert [int(m["序号"]) for m in matters] == list(range(1, len(matters) + 1))
    codes = [m["事项编码"] for m in matters]
    assert len(set(codes)) == len(codes)
    assert len({m["事项名称"] for m in matters}) == len(matters)
    for m in matters:
        code = m["事项编码"]
        assert MATTER_CODE.match(code), code
        assert m["平台"] in platform_names and m["平台"] == PLATFORM_LETTER[code[0]], code
        assert m["牵头部门"] in departments, code
        cooperators = split_list(m["协同部门"])
        assert len(cooperators) <= 3 and set(cooperators) <= departments, code
        assert m["牵头部门"] not in cooperators, code
        assert 4 <= len(split_list(m["关键词"])) <= 10, code
        assert 2 <= int(m["签收时限(小时)"]) <= 24, code
        assert 1 <= int(m["办结时限(工作日)"]) <= 15, code
        urgent = (m["紧急签收时限(小时)"], m["紧急办结时限(小时)"])
        assert all(urgent) or not any(urgent), code
        if all(urgent):
            assert 0 < int(urgent[0]) <= int(urgent[1]), code
        assert m["处置方式"] in {"部门处置", "乡镇自办", "联合处置"}, code
        assert m["实施依据"].startswith("《") and m["县级部门职责"] and m["乡镇(街道)职责"], code
    return matters


def test_matter_list_v1() -> None:
    matters = check_matter_list("matter_list.csv")
    assert len(matters) == 60
    assert {m["平台"] for m in matters} == set(PLATFORM_LETTER.values())
    modes = Counter(m["处置方式"] for m in matters)
    assert 3 <= modes["乡镇自办"] <= 8
    assert sum(1 for m in matters if m["紧急签收时限(小时)"]) >= 10


def test_matter_list_csv_has_bom_and_matches_xlsx() -> None:
    assert demo_file("matter_list.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_csv("matter_list.csv") == read_xlsx("matter_list.xlsx")


def test_matter_list_v2_is_a_small_revision_of_v1() -> None:
    old = {m["事项编码"]: m for m in check_matter_list("matter_list.csv")}
    new = {m["事项编码"]: m for m in check_matter_list("matter_list_v2.csv")}
    assert set(old) < set(new)
    assert len(set(new) - set(old)) == 1
    moved = [c for c in old if old[c]["牵头部门"] != new[c]["牵头部门"]]
    assert len(moved) == 1
    retimed = [c for c in old if old[c]["办结时限(工作日)"] != new[c]["办结时限(工作日)"]]
    assert len(retimed) == 1


# Labelled reports ----------------------------------------------------------------------------


def test_labelled_reports_cover_every_matter() -> None:
    rows = read_csv("labelled_descriptions.csv")
    assert rows[0] == ["description", "matter_code"]
    assert not demo_file("labelled_descriptions.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    reports = as_dicts(rows)
    assert len(reports) >= 240
    descriptions = [r["description"] for r in reports]
    assert len(set(descriptions)) == len(descriptions)
    codes = {m["事项编码"] for m in as_dicts(read_csv("matter_list.csv"))}
    counts = Counter(r["matter_code"] for r in reports)
    assert set(counts) == codes
    assert min(counts.values()) >= 3
