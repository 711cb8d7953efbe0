"""Jurisdictions in the database: import GeoJSON layers, load them back, build the index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
import shapely.geometry
from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import ImportRejected, InvalidInput, RowProblem
from dispatch.core.settings import Settings
from dispatch.reference.generation import bump_generation
from dispatch.reference.models import JurisdictionRow
from dispatch.reference.schemas import (
    AppConfig,
    CountySummary,
    JurisdictionCollection,
    JurisdictionFeature,
    JurisdictionProperties,
)
from geo.geojson import FeatureProblem, FieldMapping, assign_parents, parse_feature_collection
from geo.index import JurisdictionIndex
from geo.jurisdiction import Jurisdiction
from geo.levels import LEVEL_LABELS, Level, level_above
from geo.topology import CoverageIssue, check_siblings

Progress = Callable[[int, int], None]


@dataclass
class LayerImportReport:
    """What one layer import did, and what it found wrong but did not refuse."""

    level: Level
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: list[FeatureProblem] = field(default_factory=list)
    skipped: list[FeatureProblem] = field(default_factory=list)
    orphans: list[FeatureProblem] = field(default_factory=list)
    coverage: list[CoverageIssue] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return how many features were imported."""
        return self.created + self.updated + self.unchanged


def import_layer(
    session: Session,
    data: bytes | str | Mapping[str, Any],
    *,
    level: Level,
    mapping: FieldMapping,
    source: str | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> LayerImportReport:
    """Parse a GeoJSON layer and upsert it by code; refuse it whole if any feature is refused.

    Parents come from the parent field when given (each must exist one level up), otherwise
    from containment in the level above. Re-importing the same file changes nothing. A code
    stored at another level is refused: an upsert would move that jurisdiction to this one.
    """
    parsed = parse_feature_collection(data, level, mapping, progress=progress)
    report = LayerImportReport(level=level, repaired=list(parsed.repaired))
    refused = [_row_problem(p) for p in parsed.refused]
    if refused and not skip_invalid:
        raise ImportRejected(refused, source=source)
    if not parsed.jurisdictions:
        head = f"{source}: " if source else ""
        reasons = "".join(f"\n  {p}" for p in refused[:10])
        raise InvalidInput(f"{head}没有可导入的要素，{len(refused)} 个要素全被拒绝{reasons}")
    report.skipped = list(parsed.refused)
    children, numbers = parsed.jurisdictions, parsed.numbers
    _check_levels(session, children, numbers, level, source)
    parent_level = level_above(level)
    parents = load_jurisdictions(session, level=parent_level) if parent_level else []
    if mapping.parent:
        _check_parent_codes(children, numbers, parents, parent_level, source)
    elif parents:
        children, report.orphans = assign_parents(children, parents, numbers)
    _upsert(session, children, source, report)
    report.coverage = _coverage_issues(children, parents)
    bump_generation(session, f"辖区图层 {level.value}")
    return report


def _row_problem(problem: FeatureProblem) -> RowProblem:
    return RowProblem(row=problem.number, column=None, message=problem.message)


def _check_levels(
    session: Session,
    children: list[Jurisdiction],
    numbers: list[int],
    level: Level,
    source: str | None,
) -> None:
    codes = [child.code for child in children]
    clashes = {
        row.code: row
        for row in session.exec(
            select(JurisdictionRow).where(
                col(JurisdictionRow.code).in_(codes), JurisdictionRow.level != level.value
            )
        )
    }
    problems = [
        RowProblem(
            row=number,
            column=None,
            message=f"第{number}个要素「{child.name}」: 编码「{child.code}」已是"
            f"{LEVEL_LABELS[Level(row.level)]}「{row.name}」的编码，不能再用作"
            f"{LEVEL_LABELS[level]}",
        )
        for number, child in zip(numbers, children, strict=True)
        if (row := clashes.get(child.code)) is not None
    ]
    if problems:
        raise ImportRejected(problems, source=source)


def _check_parent_codes(
    children: list[Jurisdiction],
    numbers: list[int],
    parents: list[Jurisdiction],
    parent_level: Level | None,
    source: str | None,
) -> None:
    known = {p.code for p in parents}
    label = LEVEL_LABELS[parent_level] if parent_level else "上级"
    problems = [
        RowProblem(
            row=number,
            column=None,
            message=f"第{number}个要素「{child.name}」: 上级编码「{child.parent_code}」"
            f"不是已导入的{label}",
        )
        for number, child in zip(numbers, children, strict=True)
        if child.parent_code and child.parent_code not in known
    ]
    if problems:
        raise ImportRejected(problems, source=source)


def _upsert(
    session: Session, items: list[Jurisdiction], source: str | None, report: LayerImportReport
) -> None:
    existing = (
        {
            row.code: row
            for row in session.exec(
                select(JurisdictionRow).where(
                    col(JurisdictionRow.code).in_([j.code for j in items])
                )
            )
        }
        if items
        else {}
    )
    for item in items:
        wkb = shapely.to_wkb(item.geometry, output_dimension=2)
        row = existing.get(item.code)
        if row is None:
            session.add(_new_row(item, wkb, source))
            report.created += 1
        elif (row.name, row.level, row.parent_code, row.geometry_wkb, row.population) == (
            item.name,
            item.level.value,
            item.parent_code,
            wkb,
            item.population,
        ):
            report.unchanged += 1
        else:
            row.name, row.level, row.parent_code = item.name, item.level.value, item.parent_code
            row.geometry_wkb, row.population = wkb, item.population
            row.source, row.updated_at = source, utcnow()
            session.add(row)
            report.updated += 1
    session.flush()


def _new_row(item: Jurisdiction, wkb: bytes, source: str | None) -> JurisdictionRow:
    return JurisdictionRow(
        code=item.code,
        name=item.name,
        level=item.level.value,
        parent_code=item.parent_code,
        geometry_wkb=wkb,
        population=item.population,
        source=source,
    )


def _coverage_issues(
    children: list[Jurisdiction], parents: list[Jurisdiction]
) -> list[CoverageIssue]:
    by_parent: dict[str | None, list[Jurisdiction]] = defaultdict(list)
    for child in children:
        by_parent[child.parent_code].append(child)
    parent_of = {p.code: p for p in parents}
    issues: list[CoverageIssue] = []
    for parent_code, siblings in sorted(by_parent.items(), key=lambda kv: kv[0] or ""):
        issues.extend(check_siblings(siblings, parent_of.get(parent_code or "")))
    return issues


def load_jurisdictions(session: Session, *, level: Level | None = None) -> list[Jurisdiction]:
    """Return jurisdictions (of one level, or all) as pure geo objects, ordered by code."""
    query = select(JurisdictionRow).order_by(col(JurisdictionRow.code))
    if level is not None:
        query = query.where(JurisdictionRow.level == level.value)
    return [
        Jurisdiction(
            code=row.code,
            name=row.name,
            level=Level(row.level),
            parent_code=row.parent_code,
            geometry=shapely.from_wkb(row.geometry_wkb),
            population=row.population,
        )
        for row in session.exec(query)
    ]


def build_index(session: Session, *, near_distance_m: float = 50.0) -> JurisdictionIndex:
    """Build the spatial index over every stored jurisdiction."""
    return JurisdictionIndex.build(load_jurisdictions(session), near_distance_m=near_distance_m)


def count_by_level(session: Session) -> dict[str, int]:
    """Return how many jurisdictions each level has."""
    query = select(JurisdictionRow.level, func.count()).group_by(col(JurisdictionRow.level))
    return {level: count for level, count in session.exec(query)}


def county_codes(session: Session) -> list[str]:
    """Return the codes of every stored county, in order."""
    return list(
        session.exec(
            select(JurisdictionRow.code)
            .where(JurisdictionRow.level == Level.COUNTY.value)
            .order_by(col(JurisdictionRow.code))
        ).all()
    )


def choose_county(session: Session, code: str | None, *, option: str = "county") -> str | None:
    """Return the county a request means: the code given, else the only county stored.

    A code that is not a stored county, or no code while several counties are stored,
    raises InvalidInput naming `option` and listing the counties; with no county stored
    at all the answer is None.
    """
    field_name = option.lstrip("-")
    if code is not None:
        row = session.get(JurisdictionRow, code)
        if row is None or row.level != Level.COUNTY.value:
            raise InvalidInput(
                f"县级辖区编码「{code}」不存在；已导入的县级辖区: {_county_list(session)}",
                field=field_name,
            )
        return code
    codes = county_codes(session)
    if len(codes) > 1:
        raise InvalidInput(
            f"已导入 {len(codes)} 个县级辖区，请用 {option} 指定其一: {_county_list(session)}",
            field=field_name,
        )
    return codes[0] if codes else None


def _county_list(session: Session) -> str:
    rows = session.exec(
        select(JurisdictionRow.code, JurisdictionRow.name)
        .where(JurisdictionRow.level == Level.COUNTY.value)
        .order_by(col(JurisdictionRow.code))
    ).all()
    return "、".join(f"{code} {name}" for code, name in rows) or "无"


def county_of(session: Session, code: str | None) -> str | None:
    """Return the code of the county a jurisdiction lies in (itself for a county), or None."""
    seen: set[str] = set()
    while code is not None and code not in seen:
        seen.add(code)
        row = session.get(JurisdictionRow, code)
        if row is None:
            return None
        if row.level == Level.COUNTY.value:
            return row.code
        code = row.parent_code
    return None


def jurisdictions_geojson(
    session: Session, *, level: Level, simplify_m: float = 0.0
) -> JurisdictionCollection:
    """Return one level as a GeoJSON FeatureCollection, optionally simplified for display."""
    features = []
    for item in load_jurisdictions(session, level=level):
        geometry = item.geometry
        if simplify_m > 0:
            # Display only: metres to degrees at the equator is close enough for drawing.
            geometry = shapely.simplify(geometry, simplify_m / 111_320, preserve_topology=True)
        features.append(
            JurisdictionFeature(
                id=item.code,
                properties=JurisdictionProperties(
                    code=item.code,
                    name=item.name,
                    level=item.level,
                    parent_code=item.parent_code,
                    population=item.population,
                ),
                geometry=shapely.geometry.mapping(geometry),
            )
        )
    return JurisdictionCollection(features=features)


def county_summary(session: Session, code: str | None = None) -> CountySummary | None:
    """Return a county's code, name and a point inside it for centring a map, or None.

    Without a code: the only county; with several, all of them together (their names
    joined, no code, and the centre of their extent), so a page that cannot tell which
    county it serves still shows the whole territory.
    """
    query = select(JurisdictionRow).where(JurisdictionRow.level == Level.COUNTY.value)
    if code is not None:
        query = query.where(JurisdictionRow.code == code)
    rows = session.exec(query.order_by(col(JurisdictionRow.code))).all()
    if not rows:
        return None
    if len(rows) == 1:
        point = shapely.from_wkb(rows[0].geometry_wkb).representative_point()
        return CountySummary(code=rows[0].code, name=rows[0].name, center=(point.y, point.x))
    minx, miny, maxx, maxy = shapely.total_bounds([shapely.from_wkb(r.geometry_wkb) for r in rows])
    return CountySummary(
        code=None,
        name="、".join(r.name for r in rows),
        center=((miny + maxy) / 2, (minx + maxx) / 2),
    )


def map_config(session: Session, settings: Settings, county_code: str | None) -> AppConfig:
    """Return what the web pages need to start: the map's tiles and centre, the county."""
    county = county_summary(session, county_code)
    return AppConfig(
        tile_url=settings.tile_url,
        tile_attribution=settings.tile_attribution,
        county_name=county.name if county else None,
        center=county.center if county else None,
        near_boundary_m=settings.near_boundary_m,
        demo=settings.demo,
    )


def jurisdiction_name(session: Session, code: str | None) -> str | None:
    """Return the name of a jurisdiction, or None for no code or an unknown one."""
    if code is None:
        return None
    return session.exec(select(JurisdictionRow.name).where(JurisdictionRow.code == code)).first()
