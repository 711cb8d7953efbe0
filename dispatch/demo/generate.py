"""Write the demo county's data files: `python -m dispatch.demo.generate [--out DIR]`.

The output is deterministic: the same seed, outline and library versions give byte-identical
files (XLSX timestamps are pinned). Only the outline is read from outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import shapely
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from dispatch.demo import DATA_DIR, LAYER_FILES
from dispatch.demo.catalogue import (
    COUNTY_NAME,
    DEPARTMENT_COLUMNS,
    DEPARTMENTS,
    MATTER_COLUMNS,
    MATTER_LISTS,
    NOTE,
    PLATFORMS,
    STATIONED_UNIT,
    DepartmentSpec,
    MatterSpec,
)
from dispatch.demo.reports import LABELLED_REPORTS
from dispatch.demo.territory import OUTLINE_COUNTY, Area, build_territory, load_outline

SEED = 20250101
# The real Jiangsu boundaries, kept with the tests (tests/data/README.md says where from).
OUTLINE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data"

#: Written into every XLSX so that rebuilding does not change the bytes.
PINNED_TIMESTAMP = "2025-01-01T00:00:00Z"
_ZIP_DATE = (2025, 1, 1, 0, 0, 0)

Row = Sequence[str | int | None]


def generate(out_dir: Path = DATA_DIR, outline_dir: Path = OUTLINE_DIR) -> list[Path]:
    """Build every demo file into out_dir and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    areas = build_territory(load_outline(outline_dir), SEED)
    written = [
        _write_geojson(out_dir / LAYER_FILES[level], [a for a in areas if a.level == level])
        for level in LAYER_FILES
    ]

    department_rows = [_department_row(d) for d in DEPARTMENTS]
    written += _write_table(out_dir, "departments", "部门", DEPARTMENT_COLUMNS, department_rows)

    first, second = MATTER_LISTS
    matter_rows = _matter_rows(first.matters)
    written += _write_table(out_dir, "matter_list", "责任清单", MATTER_COLUMNS, matter_rows)
    written.append(
        _write_csv(out_dir / "matter_list_v2.csv", MATTER_COLUMNS, _matter_rows(second.matters))
    )

    written.append(
        _write_csv(
            out_dir / "labelled_descriptions.csv",
            ("description", "matter_code"),
            [(text, code) for code, text in LABELLED_REPORTS],
            bom=False,
        )
    )
    platforms = [
        {"code": code, "name": name, "sort_order": order}
        for order, (code, name) in enumerate(PLATFORMS, start=1)
    ]
    written.append(_write_text(out_dir / "platforms.json", _json(platforms, indent=2)))
    written.append(_write_text(out_dir / "README.md", _readme(areas)))
    return written


# GeoJSON -------------------------------------------------------------------------------------


def _write_geojson(path: Path, areas: list[Area]) -> Path:
    """Write one level as a compact FeatureCollection, one feature per line for readable diffs."""
    features = [_json(_feature(area)) for area in areas]
    body = '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"
    return _write_text(path, body)


def _feature(area: Area) -> dict[str, object]:
    properties: dict[str, object] = {"code": area.code, "name": area.name, "level": area.level}
    if area.parent_code is not None:
        properties["parent_code"] = area.parent_code
    properties["population"] = area.population
    properties["note"] = NOTE
    # RFC 7946: exterior rings counter-clockwise, holes clockwise.
    polygon = shapely.orient_polygons(area.geometry, exterior_cw=False)
    rings = [polygon.exterior, *polygon.interiors]
    coordinates = [[[round(x, 7), round(y, 7)] for x, y in ring.coords] for ring in rings]
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": coordinates},
    }


# Tables --------------------------------------------------------------------------------------


def _department_row(d: DepartmentSpec) -> Row:
    return (d.name, d.short_name, d.kind, d.parent, "、".join(d.covers), d.authorised, d.actual)


def _matter_rows(matters: Iterable[MatterSpec]) -> list[Row]:
    rows: list[Row] = []
    for number, m in enumerate(matters, start=1):
        urgent_sign, urgent_handle = m.urgent if m.urgent else (None, None)
        rows.append(
            (
                number,
                m.code,
                m.lead,
                m.name,
                m.basis,
                m.department_duties,
                m.township_duties,
                "、".join(m.cooperators),
                m.platform,
                "、".join(m.keywords),
                m.sign_hours,
                m.handle_days,
                urgent_sign,
                urgent_handle,
                m.mode,
            )
        )
    return rows


def _write_table(
    out_dir: Path, stem: str, sheet: str, columns: Sequence[str], rows: list[Row]
) -> list[Path]:
    """Write the same rows as CSV (UTF-8 with BOM, for Excel) and as XLSX."""
    return [
        _write_csv(out_dir / f"{stem}.csv", columns, rows),
        _write_xlsx(out_dir / f"{stem}.xlsx", sheet, columns, rows),
    ]


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Row], bom: bool = True) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    path.write_bytes(buffer.getvalue().encode("utf-8-sig" if bom else "utf-8"))
    return path


def _write_xlsx(path: Path, sheet: str, columns: Sequence[str], rows: list[Row]) -> Path:
    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet
    worksheet.append(list(columns))
    for row in rows:
        worksheet.append(list(row))
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        letter = worksheet.cell(row=1, column=index).column_letter
        longest = max(len(str(r[index - 1] or "")) for r in rows) if rows else 0
        worksheet.column_dimensions[letter].width = max(len(column) * 2 + 2, min(longest, 40) + 2)
        if longest > 40:
            for cells in worksheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cells[0].alignment = Alignment(wrap_text=True, vertical="top")
    worksheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(_pin_xlsx(buffer.getvalue()))
    return path


def _pin_xlsx(data: bytes) -> bytes:
    """Rewrite an XLSX with fixed document and zip-entry timestamps so rebuilds are identical."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                    rf"\g<1>{PINNED_TIMESTAMP}\g<3>",
                    content.decode("utf-8"),
                )
                content = text.encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return out.getvalue()


# Text ----------------------------------------------------------------------------------------


def _json(data: object, indent: int | None = None) -> str:
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(data, ensure_ascii=False, indent=indent, separators=separators)


def _write_text(path: Path, text: str) -> Path:
    path.write_bytes((text if text.endswith("\n") else text + "\n").encode("utf-8"))
    return path


def _readme(areas: list[Area]) -> str:
    """Describe the files, with counts taken from what was just generated."""
    levels = Counter(a.level for a in areas)
    county = next(a for a in areas if a.level == "county")
    units = [d for d in DEPARTMENTS if d.kind == STATIONED_UNIT]
    first, second = MATTER_LISTS
    platforms_by_count = Counter(m.platform for m in first.matters)
    modes = Counter(m.mode for m in first.matters)
    towns = sum(1 for a in areas if a.level == "township" and a.name.endswith("镇"))
    streets = levels["township"] - towns
    changes = "\n".join(f"- {change}" for change in second.changes)
    platform_counts = "、".join(f"{name} {platforms_by_count[name]}" for _, name in PLATFORMS)
    mode_counts = "、".join(f"{mode} {count}" for mode, count in sorted(modes.items()))
    return f"""# 示例数据 Demo data: {COUNTY_NAME}

**{NOTE}。** Everything here is fictional and exists for demos and tests. The county
outline is borrowed from a real Jiangsu county ({OUTLINE_COUNTY}, simplified to about 20 m);
every name, code, population, inner boundary, department and figure is invented. Do not
use these boundaries for anything real.

Generated by `python -m dispatch.demo.generate` (seed {SEED}); do not edit by hand. The
hand-written sources are `dispatch/demo/catalogue.py` (places, departments, matter lists) and
`dispatch/demo/reports.py` (labelled reports).

## Territory (GeoJSON, WGS84, coordinates on a 1e-7° grid)

| file | level | features |
|---|---|---|
| county.geojson | county 县 | {levels["county"]} |
| townships.geojson | township 乡镇(街道) | {levels["township"]} ({towns} 镇, {streets} 街道) |
| villages.geojson | village 村(社区) | {levels["village"]} |
| grids.geojson | grid 网格 | {levels["grid"]} |

Properties: `code`, `name`, `level`, `parent_code` (absent for the county), `population`,
`note`. Codes: county {county.code}, townships 9 digits, villages 12, grids 15. Total
population {county.population:,}.

Children tile their parent exactly: every shared edge has identical vertices at every level
(the parents are the coverage union of their grids), no gaps, no overlaps, one polygon each.

## Departments (departments.csv / .xlsx)

{len(DEPARTMENTS) - len(units)} county departments (县级部门) and {len(units)} stationed units
(派驻机构). A unit names its parent in 上级部门 and lists the townships it covers in 覆盖乡镇,
separated by 「、」; every township is covered by exactly one unit of each department that has
units. 覆盖乡镇 is empty for county departments (they cover the whole county). 编制数 and
实有人数 of a department exclude its units.

## Responsibility list (matter_list.csv / .xlsx, matter_list_v2.csv)

Version {first.version}, effective {first.effective_from}: 《{first.source_document}》,
{len(first.matters)} matters ({platform_counts}); 处置方式: {mode_counts}.
Department names in 牵头部门 and 协同部门 are exactly those of departments.csv; 平台 names
are those of platforms.json. Empty 紧急 columns mean the matter has no urgent time limits.

Version {second.version}, effective {second.effective_from} ({second.source_document}),
{len(second.matters)} matters:

{changes}

## Labelled reports (labelled_descriptions.csv)

{len(LABELLED_REPORTS)} hand-written grid-worker reports with the matter a dispatcher would
choose (version 1 codes), for measuring classifier top-1/top-3 accuracy. Plain UTF-8, no BOM.
Some are deliberately ambiguous or carry typos; none was generated from the keyword lists.

## Encodings

The department and matter CSVs are UTF-8 with BOM (read with `utf-8-sig`) so that Excel opens
them correctly; all other text files are UTF-8 without BOM.
"""


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and write the files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument(
        "--outline-dir",
        type=Path,
        default=OUTLINE_DIR,
        help="folder holding jiangsu_counties.geojson (the outline)",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out, args.outline_dir):
        print(f"{path.stat().st_size:>10,}  {path}")


if __name__ == "__main__":
    main()
