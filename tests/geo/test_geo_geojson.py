"""GeoJSON import: mapping, derived codes, repairs, refusals, whole-file errors, parents."""

import json
import re
from typing import Any

import pytest
from shapely import box

from geo import Jurisdiction, Level
from geo.geojson import (
    FieldMapping,
    GeoJSONError,
    assign_parents,
    parse_feature_collection,
)


def feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def square(x: float, y: float, size: float = 0.01, z: bool = False) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    if z:
        ring = [[*p, 12.5] for p in ring]
    return {"type": "Polygon", "coordinates": [ring]}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


GOOD = collection(
    feature({"NAME": "新市镇", "CODE": 330101, "UP": "3301", "POP": "12000"}, square(120, 30)),
    feature(
        {"NAME": " 旧馆镇 ", "CODE": "330102", "UP": "3301", "POP": 8000},
        {
            "type": "MultiPolygon",
            "coordinates": [
                [
                    [[120.01, 30], [120.03, 30], [120.03, 30.02], [120.01, 30.02], [120.01, 30]],
                    [
                        [120.015, 30.005],
                        [120.02, 30.005],
                        [120.02, 30.01],
                        [120.015, 30.01],
                        [120.015, 30.005],
                    ],
                ],
                [[[120.05, 30], [120.06, 30], [120.06, 30.01], [120.05, 30]]],
            ],
        },
    ),
)
MAPPING = FieldMapping(name="NAME", code="CODE", parent="UP", population="POP")


@pytest.mark.parametrize("as_type", [dict, str, bytes])
def test_good_file_with_property_mapping(as_type: type) -> None:
    data: Any = GOOD if as_type is dict else json.dumps(GOOD, ensure_ascii=False)
    if as_type is bytes:
        data = data.encode()
    layer = parse_feature_collection(data, Level.TOWNSHIP, MAPPING)
    assert layer.level == Level.TOWNSHIP
    assert layer.refused == [] and layer.repaired == []
    first, second = layer.jurisdictions
    assert (first.code, first.name, first.parent_code, first.population) == (
        "330101",
        "新市镇",
        "3301",
        12000,
    )
    assert (second.code, second.name, second.population) == ("330102", "旧馆镇", 8000)
    assert second.geometry.geom_type == "MultiPolygon"
    assert len(second.geometry.geoms[0].interiors) == 1
    assert first.level == Level.TOWNSHIP


def test_z_is_dropped() -> None:
    layer = parse_feature_collection(
        collection(feature({"n": "甲"}, square(120, 30, z=True))), Level.GRID, FieldMapping("n")
    )
    assert not layer.jurisdictions[0].geometry.has_z


def test_derived_codes_are_stable_and_distinct() -> None:
    data = collection(
        feature({"name": "甲"}, square(120, 30)),
        feature({"name": "乙"}, square(120.01, 30)),
        feature({"name": "甲"}, square(120.02, 30)),
    )
    first = parse_feature_collection(json.dumps(data), Level.VILLAGE, FieldMapping("name"))
    second = parse_feature_collection(
        json.dumps(data).encode(), Level.VILLAGE, FieldMapping("name")
    )
    codes = [j.code for j in first.jurisdictions]
    assert codes == [j.code for j in second.jurisdictions]
    assert len(set(codes)) == 3
    assert all(c.startswith("V") and len(c) == 13 for c in codes)
    # The level is part of the code: the same feature as a grid gets another code.
    as_grid = parse_feature_collection(data, Level.GRID, FieldMapping("name"))
    assert as_grid.jurisdictions[0].code.startswith("G")
    assert as_grid.jurisdictions[0].code[1:] != codes[0][1:]


def test_bowtie_is_repaired_and_reported() -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[120, 30], [120.01, 30.01], [120.01, 30], [120, 30.01], [120, 30]]],
    }
    layer = parse_feature_collection(
        collection(feature({"name": "蝴蝶村"}, bowtie)), Level.VILLAGE, FieldMapping("name")
    )
    assert len(layer.jurisdictions) == 1
    repaired = layer.jurisdictions[0].geometry
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(0.00005)
    assert [(p.number, p.label) for p in layer.repaired] == [(1, "蝴蝶村")]
    assert layer.repaired[0].message == "第1个要素「蝴蝶村」: 自相交，已用 make_valid 修复"


@pytest.mark.parametrize(
    ("props", "geometry", "message"),
    [
        ({"name": "新市镇"}, None, "第1个要素「新市镇」: 几何为空"),
        (
            {"name": "新市镇"},
            {"type": "Polygon", "coordinates": []},
            "第1个要素「新市镇」: 几何为空",
        ),
        (
            {"name": "点"},
            {"type": "Point", "coordinates": [120, 30]},
            "第1个要素「点」: 不是面 (Point)",
        ),
        (
            {"name": "线"},
            {"type": "LineString", "coordinates": [[120, 30], [121, 31]]},
            "第1个要素「线」: 不是面 (LineString)",
        ),
        (
            {"name": "乱码"},
            {"type": "Polygon", "coordinates": "garbage"},
            "第1个要素「乱码」: 无法解析坐标",
        ),
        (
            {"name": "乱码"},
            {"type": "Polygon", "coordinates": [[[1, 2]]]},
            "第1个要素「乱码」: 无法解析坐标",
        ),
        ({"name": "怪"}, {"type": "Blob", "coordinates": []}, "第1个要素「怪」: 无法解析坐标"),
        ({"name": ""}, square(120, 30), "第1个要素: 缺少名称"),
        ({"other": 1}, square(120, 30), "第1个要素: 缺少名称"),
    ],
)
def test_bad_features_are_refused_with_a_reason(
    props: dict[str, Any], geometry: dict[str, Any] | None, message: str
) -> None:
    data = collection(feature(props, geometry), feature({"name": "好村"}, square(121, 31)))
    layer = parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))
    assert [j.name for j in layer.jurisdictions] == ["好村"]
    assert len(layer.refused) == 1
    problem = layer.refused[0]
    assert problem.number == 1
    assert problem.message.startswith(message)
    assert problem.label == (props.get("name") or "#1")


def test_a_feature_that_is_not_a_feature_is_refused() -> None:
    layer = parse_feature_collection(
        collection("oops", feature({"name": "好村"}, square(121, 31))),  # type: ignore[arg-type]
        Level.VILLAGE,
        FieldMapping("name"),
    )
    assert [p.message for p in layer.refused] == ["第1个要素: 不是 GeoJSON Feature"]
    assert len(layer.jurisdictions) == 1


def test_duplicate_codes_are_all_refused() -> None:
    data = collection(
        feature({"n": "甲", "c": "X1"}, square(120, 30)),
        feature({"n": "乙", "c": "X2"}, square(120.01, 30)),
        feature({"n": "丙", "c": "X1"}, square(120.02, 30)),
    )
    layer = parse_feature_collection(data, Level.GRID, FieldMapping("n", code="c"))
    assert [j.code for j in layer.jurisdictions] == ["X2"]
    assert [p.number for p in layer.refused] == [1, 3]
    assert "编码「X1」重复" in layer.refused[0].message


def test_missing_code_and_bad_population() -> None:
    data = collection(
        feature({"n": "甲", "c": None, "p": 1}, square(120, 30)),
        feature({"n": "乙", "c": "X2", "p": "many"}, square(120.01, 30)),
    )
    layer = parse_feature_collection(data, Level.GRID, FieldMapping("n", code="c", population="p"))
    assert [p.message for p in layer.refused] == ["第1个要素「甲」: 缺少编码 (属性「c」为空)"]
    assert layer.jurisdictions[0].population is None
    assert "人口「many」" in layer.repaired[0].message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "不是有效的 JSON"),
        ("[1, 2]", "不是 GeoJSON FeatureCollection"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "不是 GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection"}, "缺少 features"),
        (b"\xff\xfe\x00garbage", "不是有效的 JSON"),
    ],
)
def test_whole_file_errors(data: Any, fragment: str) -> None:
    with pytest.raises(GeoJSONError, match=fragment):
        parse_feature_collection(data, Level.GRID, FieldMapping("name"))


def test_missing_field_lists_available_fields() -> None:
    data = collection(
        feature({"name": "玄武区", "city": "南京市", "province": "江苏省"}, square(118.8, 32.0))
    )
    with pytest.raises(GeoJSONError) as caught:
        parse_feature_collection(data, Level.COUNTY, FieldMapping("name", code="code"))
    assert str(caught.value) == "属性字段「code」不存在; 可用字段: name, city, province"


def test_progress_is_reported_up_to_the_total() -> None:
    data = collection(*(feature({"n": f"村{i}"}, square(120 + i * 0.01, 30)) for i in range(250)))
    calls: list[tuple[int, int]] = []
    parse_feature_collection(
        data, Level.VILLAGE, FieldMapping("n"), progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (250, 250)
    assert 1 < len(calls) <= 101
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def township(code: str, *bounds: float) -> Jurisdiction:
    return Jurisdiction(code, code, Level.TOWNSHIP, "C", box(*bounds))


def village(code: str, *bounds: float, parent: str | None = None) -> Jurisdiction:
    return Jurisdiction(code, f"村{code}", Level.VILLAGE, parent, box(*bounds))


def test_assign_parents_by_largest_overlap() -> None:
    parents = [township("T2", 120.01, 30, 120.02, 30.01), township("T1", 120, 30, 120.01, 30.01)]
    children = [
        village("V1", 120.002, 30.002, 120.008, 30.008),  # inside T1
        village("V2", 120.008, 30.002, 120.018, 30.008),  # mostly in T2
        village("V3", 120.005, 30.002, 120.015, 30.008),  # half and half: lowest code wins
        village("V4", 121, 31, 121.01, 31.01),  # nowhere
        village("V5", 120.002, 30.002, 120.008, 30.008, parent="T9"),  # already has one
        village("V6", 120.01, 30.02, 120.02, 30.03),  # touches nothing
        village("V7", 119.99, 30.0, 120.0, 30.01),  # only shares an edge with T1
    ]
    assigned, problems = assign_parents(children, parents)
    assert [c.parent_code for c in assigned] == ["T1", "T2", "T1", None, "T9", None, None]
    assert [(p.number, p.label) for p in problems] == [(4, "村V4"), (6, "村V6"), (7, "村V7")]
    assert problems[0].message == "第4个要素「村V4」: 不在任何上级辖区内"
    assert assigned[0].geometry is children[0].geometry


def test_assign_parents_refuses_upside_down_levels() -> None:
    with pytest.raises(ValueError, match="not above"):
        assign_parents([township("T1", 0, 0, 1, 1)], [village("V1", 0, 0, 1, 1)])


# What a county GIS clerk might feed the importer -------------------------------------------


def _ring(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in (*points, points[0])]]}


@pytest.mark.parametrize(
    ("geometry", "fragments"),
    [
        (_ring((500, 100), (501, 100), (501, 101)), ["经度 500", "[-180, 180]"]),
        (_ring((120, 100), (120.01, 100), (120.01, 100.01)), ["纬度 100", "[-90, 90]"]),
        # One mistyped vertex among good ones is named as it is, not taken for metres.
        (_ring((120, 30), (1200.5, 30), (120.01, 30.01)), ["经度 1200.5 超出"]),
        # (lat, lon) instead of (lon, lat): Nanjing written the Chinese way round.
        (_ring((32.0, 118.8), (32.01, 118.8), (32.01, 118.81)), ["经纬度写反"]),
        # CGCS2000 3-degree Gauss-Krüger, zone 40 (EPSG:4528): metres, with the zone number.
        (
            _ring((40_500_000, 3_540_000), (40_501_000, 3_540_000), (40_501_000, 3_541_000)),
            ["投影坐标", "WGS84"],
        ),
        # The same without the zone number (EPSG:4549): x in the hundreds of thousands.
        (
            _ring((500_000, 3_540_000), (501_000, 3_540_000), (501_000, 3_541_000)),
            ["投影坐标", "WGS84"],
        ),
        (
            {"type": "GeometryCollection", "geometries": [square(120, 30)]},
            ["不是面 (GeometryCollection)"],
        ),
    ],
)
def test_features_outside_lonlat_or_not_polygons_are_refused(
    geometry: dict[str, Any], fragments: list[str]
) -> None:
    good = feature({"name": "好村"}, square(121, 31))
    data = collection(feature({"name": "坏村"}, geometry), good)
    layer = parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))
    assert [j.name for j in layer.jurisdictions] == ["好村"]
    [problem] = layer.refused
    assert problem.message.startswith("第1个要素「坏村」: ")
    for fragment in fragments:
        assert fragment in problem.message


def test_a_self_intersecting_polygon_is_repaired_not_refused() -> None:
    bowtie = _ring((120, 30), (120.01, 30.01), (120.01, 30), (120, 30.01))
    layer = parse_feature_collection(
        collection(feature({"name": "八字村"}, bowtie)), Level.VILLAGE, FieldMapping("name")
    )
    assert [j.name for j in layer.jurisdictions] == ["八字村"]
    assert layer.jurisdictions[0].geometry.is_valid
    assert "自相交" in layer.repaired[0].message


def _nested(depth: int) -> str:
    return '{"type": "FeatureCollection", "features": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (collection(), "没有要素"),
        ('{"type": "FeatureCollection", "features": []}', "没有要素"),
        (_nested(200_000), "嵌套过深"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "嵌套过深"),
        (
            {"type": "Feature", "properties": {"name": "玄武区"}, "geometry": square(118.8, 32)},
            "单个 Feature",
        ),
        (
            {"type": "GeometryCollection", "geometries": [square(118.8, 32)]},
            "不是 GeoJSON FeatureCollection (type='GeometryCollection')",
        ),
        ("我是一个文本文件".encode("gbk"), "UTF-8"),
        (b"PK\x03\x04shapefile.zip", "ZIP"),
        (b"\x00\x00\x27\x0a\x00\x00", "Shapefile"),
        (b"", "不是有效的 JSON"),
    ],
)
def test_more_whole_file_errors(data: Any, fragment: str) -> None:
    with pytest.raises(GeoJSONError, match=re.escape(fragment)):
        parse_feature_collection(data, Level.GRID, FieldMapping("name"))


@pytest.mark.parametrize(
    "crs",
    [
        "urn:ogc:def:crs:EPSG::4549",  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
        "urn:ogc:def:crs:EPSG::4528",
        "EPSG:3857",
    ],
)
def test_a_declared_projected_crs_is_refused_naming_it(crs: str) -> None:
    data = {**collection(feature({"name": "好村"}, square(121, 31))), "crs": _named(crs)}
    with pytest.raises(GeoJSONError) as caught:
        parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))
    assert crs in str(caught.value)
    assert "WGS84" in str(caught.value)


@pytest.mark.parametrize(
    "crs",
    [
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4490",  # CGCS2000 geographic: within centimetres of WGS84
    ],
)
def test_a_declared_lonlat_crs_is_accepted(crs: str) -> None:
    data = {**collection(feature({"name": "好村"}, square(121, 31))), "crs": _named(crs)}
    layer = parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))
    assert [j.name for j in layer.jurisdictions] == ["好村"]


def test_an_unreadable_crs_member_is_refused() -> None:
    data = {**collection(feature({"name": "好村"}, square(121, 31))), "crs": "EPSG:4549"}
    with pytest.raises(GeoJSONError, match="crs"):
        parse_feature_collection(data, Level.VILLAGE, FieldMapping("name"))


def _named(name: str) -> dict[str, Any]:
    return {"type": "name", "properties": {"name": name}}
