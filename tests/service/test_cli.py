"""The `sipingtai` command as an operator uses it, against a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely

from dispatch.demo import demo_file
from tests.conftest import JIANGSU
from tests.helpers import demo_grid_point
from tests.service.conftest import RunCli


def test_demo_load_is_idempotent(cli: RunCli) -> None:
    first = cli("demo", "load")
    assert first.exit_code == 0, first.output
    assert "已导入网格 592 个 imported: 新建 created 592" in first.output
    assert "清单 lists: 新建 v1, v2" in first.output

    again = cli("demo", "load")
    assert again.exit_code == 0, again.output
    assert "未变 unchanged 592" in again.output
    assert "清单 lists: 新建 无 none" in again.output


def test_route_by_matter_names_the_stationed_unit_and_the_list_version(demo_cli: RunCli) -> None:
    lon, lat = demo_grid_point("320999004")  # 新市镇
    result = demo_cli("route", "--lon", str(lon), "--lat", str(lat), "--matter", "C-001", "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)["decision"]
    assert decision["outcome"] == "routed"
    assert decision["township"]["name"] == "新市镇"
    assert decision["matter"]["list_version"] == 2  # v2 is in force since 2025-07-01
    lead = decision["lead"]
    assert lead["on_behalf_of_name"] == "县综合行政执法局"
    assert "中队" in lead["department_name"]
    assert decision["territorial"]["department_name"].startswith("新市镇")


def test_route_by_text_classifies_and_explains(demo_cli: RunCli) -> None:
    lon, lat = demo_grid_point("320999005")  # 河口镇
    result = demo_cli(
        "route", "--lon", str(lon), "--lat", str(lat), "--text", "路边有人摆摊卖水果，占了人行道"
    )
    assert "按描述分类" in result.output
    assert "河口镇" in result.output


def test_route_outside_every_jurisdiction_needs_triage(demo_cli: RunCli) -> None:
    result = demo_cli("route", "--lon", "116.39", "--lat", "39.9", "--matter", "C-001")
    assert result.exit_code == 1
    assert "需人工研判" in result.output
    assert "不在任何辖区内" in result.output


def test_route_rejects_swapped_coordinates_with_a_clear_error(demo_cli: RunCli) -> None:
    result = demo_cli("route", "--lon", "33.5", "--lat", "119.8", "--matter", "C-001")
    assert result.exit_code == 2
    assert "纬度" in result.output and "填反" in result.output


def test_route_needs_exactly_one_of_matter_and_text(demo_cli: RunCli) -> None:
    result = demo_cli("route", "--lon", "119.8", "--lat", "33.5")
    assert result.exit_code == 2
    assert "--matter" in result.output


def test_geo_locate_reads_stdin_and_keeps_input_order(demo_cli: RunCli) -> None:
    inside = demo_grid_point("320999004")
    lines = f"{inside[0]},{inside[1]}\n116.39,39.9\nnot,a point\n"
    result = demo_cli("geo", "locate", input=lines)
    assert result.exit_code == 0, result.output
    rows = [r for r in result.stdout.splitlines() if r and not r.startswith("lon,")]
    assert len(rows) == 3
    first = rows[0].split(",")
    assert first[2] == "320999" and first[3] == "320999004" and first[5].startswith("320999004")
    assert rows[1].split(",")[2:6] == ["", "", "", ""]


def test_geo_import_real_counties_twice_changes_nothing_the_second_time(cli: RunCli) -> None:
    first = cli("geo", "import", str(JIANGSU), "--level", "county", "--name-field", "name")
    assert first.exit_code == 0, first.output
    assert "新建 created 95" in first.output
    again = cli("geo", "import", str(JIANGSU), "--level", "county", "--name-field", "name")
    assert "未变 unchanged 95" in again.output

    xuanwu = next(
        f
        for f in json.loads(JIANGSU.read_text(encoding="utf-8"))["features"]
        if f["properties"]["name"] == "玄武区"
    )
    point = shapely.geometry.shape(xuanwu["geometry"]).representative_point()
    located = cli("geo", "locate", input=f"{point.x},{point.y}\n")
    assert located.exit_code == 0
    assert located.stdout.splitlines()[-1].split(",")[2] != ""


def test_geo_import_refuses_a_broken_file_and_writes_nothing(cli: RunCli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    result = cli("geo", "import", str(broken), "--level", "county", "--name-field", "name")
    assert result.exit_code == 2
    assert "错误" in result.output

    empty = cli("geo", "locate", input="119.8,33.5\n")
    assert empty.exit_code == 2
    assert "尚未导入任何辖区" in empty.output


def test_geo_import_names_a_missing_property(cli: RunCli) -> None:
    result = cli("geo", "import", str(JIANGSU), "--level", "county", "--name-field", "NAME_ZH")
    assert result.exit_code == 2
    assert "name" in result.output  # the fields that do exist are listed


def _square(x: float, y: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def _county(name: str, geometry: dict[str, Any] | None, code: str | None = None) -> dict[str, Any]:
    properties = {"name": name} if code is None else {"name": name, "code": code}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _collection(*features: dict[str, Any], **members: Any) -> str:
    collection = {"type": "FeatureCollection", "features": list(features), **members}
    return json.dumps(collection, ensure_ascii=False)


GOOD_COUNTY = _county("好县", _square(119.0, 33.0))
BAD_GEO_FILES: list[tuple[str, str | bytes, str]] = [
    ("lon 500 / lat 100", _collection(GOOD_COUNTY, _county("远县", _square(500, 100))), "经度 500"),
    ("200,000-deep JSON", '{"features": ' + "[" * 200_000 + "]" * 200_000 + "}", "嵌套过深"),
    ("empty FeatureCollection", _collection(), "没有要素"),
    ("a Feature alone", json.dumps(GOOD_COUNTY, ensure_ascii=False), "单个 Feature"),
    (
        "a GeometryCollection",
        json.dumps({"type": "GeometryCollection", "geometries": [_square(119, 33)]}),
        "GeometryCollection",
    ),
    ("null geometry", _collection(GOOD_COUNTY, _county("空县", None)), "几何为空"),
    (
        "duplicate codes",
        _collection(
            _county("甲县", _square(119, 33), "X1"), _county("乙县", _square(120, 33), "X1")
        ),
        "编码「X1」重复",
    ),
    (
        "a declared projected CRS",
        _collection(
            GOOD_COUNTY, crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}}
        ),
        "EPSG::4549",
    ),
    (
        "Gauss-Krüger metres, undeclared",
        _collection(_county("米县", _square(500_000, 3_540_000, 1000.0))),
        "投影坐标",
    ),
    ("(lat, lon) swapped", _collection(_county("反县", _square(33.0, 119.0))), "经纬度写反"),
    ("a GBK-encoded file", _collection(GOOD_COUNTY).encode("gbk"), "UTF-8"),
]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [pytest.param(content, fragment, id=label) for label, content, fragment in BAD_GEO_FILES],
)
def test_geo_import_refuses_what_a_clerk_might_feed_it(
    cli: RunCli, tmp_path: Path, content: str | bytes, fragment: str
) -> None:
    path = tmp_path / "layer.geojson"
    # Codes are derived from the content unless a file has a code property.
    codes = ["--code-field", "code"] if '"code"' in str(content) else []
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    result = cli("geo", "import", str(path), "--level", "county", "--name-field", "name", *codes)
    assert result.exit_code == 2, result.output
    assert "错误 error:" in result.output
    assert fragment in result.output
    empty = cli("geo", "locate", input="119.005,33.005\n")
    assert "尚未导入任何辖区" in empty.output, "nothing may be written"


def test_geo_import_skipping_every_feature_imports_nothing(cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "far.geojson"
    path.write_text(_collection(_county("远县", _square(500, 100))), encoding="utf-8")
    args = ["geo", "import", str(path), "--level", "county", "--name-field", "name"]
    result = cli(*args, "--skip-invalid")
    assert result.exit_code == 2, result.output
    assert "没有可导入的要素" in result.output
    assert "尚未导入任何辖区" in cli("geo", "locate", input="119.0,33.0\n").output


def test_geo_import_refuses_codes_already_used_at_another_level(
    cli: RunCli, tmp_path: Path
) -> None:
    counties = tmp_path / "counties.geojson"
    counties.write_text(_collection(_county("好县", _square(119, 33, 0.1), "320999")))
    args = ["--name-field", "name", "--code-field", "code"]
    assert cli("geo", "import", str(counties), "--level", "county", *args).exit_code == 0
    result = cli("geo", "import", str(counties), "--level", "township", *args)
    assert result.exit_code == 2, result.output
    assert "编码「320999」已是县(区)「好县」的编码" in result.output
    located = cli("geo", "locate", input="119.05,33.05\n")
    assert located.stdout.splitlines()[-1].split(",")[2:4] == ["320999", ""]


def test_geo_import_names_features_by_their_number_in_the_file_after_skipping(
    cli: RunCli, tmp_path: Path
) -> None:
    counties = tmp_path / "counties.geojson"
    counties.write_text(_collection(_county("好县", _square(119, 33, 0.1), "320999")))
    args = ["--name-field", "name", "--code-field", "code", "--parent-field", "up"]
    towns = tmp_path / "towns.geojson"
    broken = {"type": "Feature", "properties": {"name": "空镇", "code": "1", "up": "320999"}}
    lost = {"type": "Feature", "properties": {"name": "远镇", "code": "2", "up": "999"}}
    towns.write_text(
        _collection({**broken, "geometry": None}, {**lost, "geometry": _square(119.01, 33.01)})
    )
    assert cli("geo", "import", str(counties), "--level", "county", *args[:4]).exit_code == 0
    result = cli("geo", "import", str(towns), "--level", "township", *args, "--skip-invalid")
    assert result.exit_code == 2, result.output
    assert "第2个要素「远镇」: 上级编码「999」" in result.output


def test_list_import_refusal_names_row_and_column(cli: RunCli, tmp_path: Path) -> None:
    assert cli("demo", "load").exit_code == 0
    rows = demo_file("matter_list.csv").read_text(encoding="utf-8-sig").splitlines()
    index = next(i for i, row in enumerate(rows) if row.split(",")[2] == "县综合行政执法局")
    rows[index] = rows[index].replace("县综合行政执法局", "县综合执法局", 1)
    bad = tmp_path / "bad_list.csv"
    bad.write_text("\n".join(rows), encoding="utf-8")

    result = cli("list", "import", str(bad), "--publish")
    assert result.exit_code == 2
    assert f"第{index + 1}行" in result.output
    assert "县综合执法局" in result.output
    shown = cli("list", "show")
    assert "v3" not in shown.output


def test_list_import_then_publish_a_new_version(cli: RunCli) -> None:
    assert cli("demo", "load").exit_code == 0
    xlsx = demo_file("matter_list.xlsx")
    imported = cli("list", "import", str(xlsx), "--effective", "2030-01-01")
    assert imported.exit_code == 0, imported.output
    assert "v3" in imported.output and "draft" in imported.output
    published = cli("list", "publish", "3")
    assert published.exit_code == 0, published.output
    shown = cli("list", "show")
    assert "v2" in shown.output.split("← 生效中")[0].splitlines()[-1]
    future = cli("list", "show", "--at", "2030-01-02")
    assert "v3" in future.output.split("← 生效中")[0].splitlines()[-1]


def test_calendar_show_lists_the_shipped_holidays(demo_cli: RunCli) -> None:
    result = demo_cli("calendar", "show", "--year", "2026")
    assert result.exit_code == 0, result.output
    assert "2026-10-01  休息 holiday" in result.output
    assert "上班 workday" in result.output  # make-up workdays (调休) are listed too


def test_calendar_import_refuses_a_bad_file_naming_the_entry(cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text('{"year": 2027, "days": [{"date": "2027-02-30", "workday": false}]}')
    result = cli("calendar", "import", str(bad))
    assert result.exit_code == 2
    assert "2027-02-30" in result.output


def test_list_commands_require_county_when_two_are_imported(cli: RunCli) -> None:
    from tests.two_counties import COUNTY_A, COUNTY_B, DATA

    geo = ("geo", "import", "--name-field", "name", "--code-field", "code")
    counties = cli(*geo, str(DATA / "counties.geojson"), "--level", "county")
    assert counties.exit_code == 0, counties.output
    townships = cli(
        *geo,
        str(DATA / "townships.geojson"),
        "--level",
        "township",
        "--parent-field",
        "parent_code",
    )
    assert townships.exit_code == 0, townships.output
    assert cli("dept", "import", str(DATA / "departments.csv")).exit_code == 0
    list_a = str(DATA / "matter_list_a.csv")

    for args in (("list", "import", list_a), ("list", "show"), ("list", "publish", "1")):
        refused = cli(*args)
        assert refused.exit_code == 2, (args, refused.output)
        assert "请用 --county 指定" in refused.output
        assert COUNTY_A in refused.output and COUNTY_B in refused.output

    unknown = cli("list", "import", list_a, "--county", "999999")
    assert unknown.exit_code == 2 and "999999" in unknown.output
    imported = cli("list", "import", list_a, "--county", COUNTY_A, "--publish")
    assert imported.exit_code == 0, imported.output
    assert "v1" in cli("list", "show", "--county", COUNTY_A).output
    assert "尚无责任清单" in cli("list", "show", "--county", COUNTY_B).output
