"""Import jurisdiction boundaries from a GeoJSON FeatureCollection, one level per file.

Problems with single features never raise: a feature that cannot be used is refused, one
that could be fixed is repaired, and both are reported with a specific zh-CN message
naming the feature ("第3个要素「新市镇」: 几何为空"). A feature is refused when its
coordinates are not WGS84 lon/lat: out of range, (lat, lon) swapped, or projected metres
such as CGCS2000 Gauss-Krüger. Only problems with the whole file (not UTF-8 JSON, nested
too deep, not a FeatureCollection, no features, a declared CRS other than lon/lat, a mapped
property present in no feature) raise GeoJSONError.

Without a code property, codes are derived from the level, the name and the original
geometry, so importing the same file twice yields the same codes.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from geo.jurisdiction import Jurisdiction
from geo.levels import Level, level_depth

_CODE_PREFIX = {
    Level.COUNTY: "C",
    Level.TOWNSHIP: "T",
    Level.VILLAGE: "V",
    Level.GRID: "G",
    Level.MICROGRID: "M",
}
# Derived codes carry 48 bits of the hash: collisions are negligible below millions.
_HASH_CHARS = 12
_PROGRESS_STEPS = 100
# A declared CRS that is lon/lat: OGC CRS84, EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000
# geographic, within centimetres of WGS84), in any of the URN spellings GIS tools write.
_LONLAT_CRS = re.compile(r"(?:CRS84|EPSG:(?:[\d.]*:)?(?:4326|4490))$", re.IGNORECASE)
# Coordinates all beyond this are metres of a projection, not mistyped lon/lat.
_PROJECTED_ABOVE = 1000.0
_TO_WGS84 = "请先在 GIS 软件中转换为 WGS84 经纬度 (EPSG:4326) 再导入"


class GeoJSONError(ValueError):
    """The file as a whole cannot be imported."""


@dataclass(frozen=True)
class FieldMapping:
    """Which feature properties hold the name, code, parent code and population."""

    name: str
    code: str | None = None
    parent: str | None = None
    population: str | None = None


@dataclass(frozen=True)
class FeatureProblem:
    """A problem with one feature: its 1-based number, its label and a zh-CN message."""

    number: int
    label: str
    message: str


@dataclass
class ParsedLayer:
    """The jurisdictions of one level read from a file, with what was repaired or refused.

    ``numbers`` holds the 1-based feature number of each jurisdiction, for messages.
    """

    level: Level
    jurisdictions: list[Jurisdiction] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    repaired: list[FeatureProblem] = field(default_factory=list)
    refused: list[FeatureProblem] = field(default_factory=list)


def derive_code(level: Level, name: str, geometry: shapely.Geometry) -> str:
    """Return a stable code from the level, the name and the normalised 2D geometry."""
    wkb = shapely.to_wkb(
        shapely.normalize(shapely.force_2d(geometry)), output_dimension=2, byte_order=1
    )
    digest = hashlib.sha256(f"{level.value}\0{name}\0".encode() + wkb).hexdigest()
    return _CODE_PREFIX[level] + digest[:_HASH_CHARS]


def _load(data: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    head = data[:4] if isinstance(data, bytes) else b""
    if head == b"PK\x03\x04":
        raise GeoJSONError(
            "是 ZIP 压缩包 (如打包的 Shapefile)，不是 GeoJSON; 请解压并导出为 GeoJSON"
        )
    if head == b"\x00\x00\x27\x0a":
        raise GeoJSONError("是 Shapefile (.shp)，不是 GeoJSON; 请先导出为 GeoJSON")
    try:
        loaded = json.loads(data)
    except UnicodeDecodeError:
        raise GeoJSONError(
            "不是有效的 JSON: 文件不是 UTF-8 编码的文本 (GBK 等编码请另存为 UTF-8; "
            "Shapefile 等格式请先导出为 GeoJSON)"
        ) from None
    except json.JSONDecodeError as exc:
        raise GeoJSONError(f"不是有效的 JSON: {exc}") from None
    except RecursionError:
        # The parser recurses once per nesting level; GeoJSON needs at most five.
        raise GeoJSONError("JSON 嵌套过深，不是 GeoJSON 边界文件") from None
    if not isinstance(loaded, Mapping):
        raise GeoJSONError(f"不是 GeoJSON FeatureCollection (顶层是 {type(loaded).__name__})")
    return loaded


def _check_collection(collection: Mapping[str, Any]) -> list[Any]:
    """Return the features of a FeatureCollection in lon/lat; raise GeoJSONError otherwise."""
    kind = collection.get("type")
    if kind == "Feature":
        raise GeoJSONError(
            "不是 GeoJSON FeatureCollection (type='Feature'): 文件是单个 Feature，"
            "请放进 FeatureCollection 的 features 数组"
        )
    if kind != "FeatureCollection":
        raise GeoJSONError(f"不是 GeoJSON FeatureCollection (type={kind!r})")
    _check_crs(collection.get("crs"))
    features = collection.get("features")
    if not isinstance(features, list):
        raise GeoJSONError("FeatureCollection 缺少 features 数组")
    if not features:
        raise GeoJSONError("FeatureCollection 没有要素 (features 为空)，没有可导入的辖区")
    return features


def _check_crs(crs: object) -> None:
    """Refuse a declared CRS (the 2008 GeoJSON ``crs`` member) that is not lon/lat."""
    if crs is None:
        return
    properties = crs.get("properties") if isinstance(crs, Mapping) else None
    name = properties.get("name") if isinstance(properties, Mapping) else None
    if not isinstance(name, str):
        raise GeoJSONError(f"无法识别文件声明的坐标系 crs={crs!r}; {_TO_WGS84}")
    if not _LONLAT_CRS.search(name.strip()):
        raise GeoJSONError(f"文件声明的坐标系 {name} 不是 WGS84 经纬度; {_TO_WGS84}")


def _lonlat_problem(geometry: shapely.Geometry) -> str | None:
    """Return why a geometry's coordinates are not WGS84 (lon, lat), or None if they are."""
    coordinates = shapely.get_coordinates(geometry)
    minx, miny, maxx, maxy = shapely.bounds(geometry).tolist()
    if (np.abs(coordinates) > _PROJECTED_ABOVE).all():
        return (
            f"坐标 ({minx:.0f}, {miny:.0f}) 像是以米为单位的投影坐标 (如 CGCS2000 "
            f"高斯-克吕格)，不是经纬度; {_TO_WGS84}"
        )
    lon_ok = minx >= -180.0 and maxx <= 180.0
    lat_ok = miny >= -90.0 and maxy <= 90.0
    swapped_ok = miny >= -180.0 and maxy <= 180.0 and minx >= -90.0 and maxx <= 90.0
    # (lat, lon) of China lands either out of range or at lon 15..55, lat 70..90, where
    # coords.validate_lonlat refuses single points as swapped too.
    looks_swapped = minx >= 15.0 and maxx <= 55.0 and miny >= 70.0 and maxy <= 90.0
    if (not lat_ok and swapped_ok) or looks_swapped:
        return (
            f"经纬度写反了: 坐标 ({minx:g}, {miny:g}) 交换后才是有效的经纬度; "
            "GeoJSON 的坐标顺序是 [经度, 纬度]"
        )
    if not lon_ok:
        first = coordinates[np.abs(coordinates[:, 0]) > 180.0][0, 0]
        return f"经度 {first:g} 超出 [-180, 180]，不是 WGS84 经纬度"
    if not lat_ok:
        first = coordinates[np.abs(coordinates[:, 1]) > 90.0][0, 1]
        return f"纬度 {first:g} 超出 [-90, 90]，不是 WGS84 经纬度"
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _label(number: int, name: str | None) -> str:
    return name if name else f"#{number}"


def _describe(number: int, label: str) -> str:
    return f"第{number}个要素「{label}」" if not label.startswith("#") else f"第{number}个要素"


def _validity_message(reason: str) -> str:
    lowered = reason.lower()
    if "self-intersection" in lowered:
        return "自相交，已用 make_valid 修复"
    if "too few points" in lowered:
        return "环的点数太少，已用 make_valid 修复"
    if "hole lies outside shell" in lowered:
        return "洞在外环之外，已用 make_valid 修复"
    if "nested" in lowered:
        return "环相互嵌套，已用 make_valid 修复"
    return f"几何无效 ({reason})，已用 make_valid 修复"


def _polygonal(geom: shapely.Geometry) -> Polygon | MultiPolygon | None:
    """Return the polygonal part of a geometry (e.g. from make_valid), or None."""
    if isinstance(geom, Polygon | MultiPolygon):
        return None if geom.is_empty else geom
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon | MultiPolygon)]
    polygons = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def parse_feature_collection(
    data: bytes | str | Mapping[str, Any],
    level: Level,
    mapping: FieldMapping,
    progress: Callable[[int, int], None] | None = None,
) -> ParsedLayer:
    """Parse a FeatureCollection into jurisdictions of ``level``; raise GeoJSONError if unusable.

    ``progress(done, total)`` is called about a hundred times, and once at the end.
    """
    features = _check_collection(_load(data))
    available: dict[str, None] = {}
    for feature in features:
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        if isinstance(props, Mapping):
            available.update(dict.fromkeys(props))
    for prop in (mapping.name, mapping.code, mapping.parent, mapping.population):
        if prop is not None and prop not in available:
            listed = ", ".join(available) or "(无)"
            raise GeoJSONError(f"属性字段「{prop}」不存在; 可用字段: {listed}")

    layer = ParsedLayer(level=level)
    total = len(features)
    step = max(-(-total // _PROGRESS_STEPS), 1)
    kept: list[tuple[int, str, Jurisdiction]] = []
    for number, feature in enumerate(features, start=1):
        if progress is not None and (number % step == 0 or number == total):
            progress(number, total)
        result = _parse_feature(number, feature, level, mapping, layer)
        if result is not None:
            kept.append((number, result.name, result))

    by_code: dict[str, list[int]] = {}
    for i, (_, _, j) in enumerate(kept):
        by_code.setdefault(j.code, []).append(i)
    for code, where in by_code.items():
        if len(where) > 1:
            numbers = "、".join(f"第{kept[i][0]}个" for i in where)
            for i in where:
                number, name, _ = kept[i]
                layer.refused.append(
                    FeatureProblem(
                        number,
                        name,
                        f"{_describe(number, name)}: 编码「{code}」重复 ({numbers}要素)",
                    )
                )
    duplicated = {i for where in by_code.values() if len(where) > 1 for i in where}
    layer.jurisdictions = [j for i, (_, _, j) in enumerate(kept) if i not in duplicated]
    layer.numbers = [n for i, (n, _, _) in enumerate(kept) if i not in duplicated]
    layer.refused.sort(key=lambda p: p.number)
    return layer


def _parse_feature(
    number: int, feature: object, level: Level, mapping: FieldMapping, layer: ParsedLayer
) -> Jurisdiction | None:
    props = feature.get("properties") if isinstance(feature, Mapping) else None
    props = props if isinstance(props, Mapping) else {}
    name = _text(props.get(mapping.name))
    label = _label(number, name)
    where = _describe(number, label)

    def refuse(message: str) -> None:
        layer.refused.append(FeatureProblem(number, label, f"{where}: {message}"))

    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        refuse("不是 GeoJSON Feature")
        return None
    raw = feature.get("geometry")
    if not raw:
        refuse("几何为空")
        return None
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises many types for malformed coordinates
        refuse(f"无法解析坐标: {exc}")
        return None
    if geom.is_empty:
        refuse("几何为空")
        return None
    if not isinstance(geom, Polygon | MultiPolygon):
        refuse(f"不是面 ({geom.geom_type})")
        return None
    if name is None:
        refuse(f"缺少名称 (属性「{mapping.name}」为空)")
        return None
    original = shapely.force_2d(geom)
    if not np.isfinite(shapely.get_coordinates(original)).all():
        refuse("无法解析坐标: 含有 NaN 或无穷大")
        return None
    not_lonlat = _lonlat_problem(original)
    if not_lonlat is not None:
        refuse(not_lonlat)
        return None
    geometry: Polygon | MultiPolygon | None = original
    if not shapely.is_valid(original):
        reason = shapely.is_valid_reason(original)
        geometry = _polygonal(shapely.make_valid(original))
        if geometry is None:
            refuse(f"几何无效且无法修复 ({reason})")
            return None
        message = f"{where}: {_validity_message(reason)}"
        layer.repaired.append(FeatureProblem(number, label, message))

    if mapping.code is not None:
        code = _text(props.get(mapping.code))
        if code is None:
            refuse(f"缺少编码 (属性「{mapping.code}」为空)")
            return None
    else:
        code = derive_code(level, name, original)
    parent = _text(props.get(mapping.parent)) if mapping.parent is not None else None
    population: int | None = None
    if mapping.population is not None and props.get(mapping.population) not in (None, ""):
        raw_population = props.get(mapping.population)
        try:
            population = int(str(raw_population).strip())
            if population < 0:
                raise ValueError
        except ValueError:
            population = None
            message = f"{where}: 人口「{raw_population}」不是非负整数，已忽略"
            layer.repaired.append(FeatureProblem(number, label, message))
    return Jurisdiction(code, name, level, parent, geometry, population)


def assign_parents(
    children: Sequence[Jurisdiction],
    parents: Sequence[Jurisdiction],
    numbers: Sequence[int] | None = None,
) -> tuple[list[Jurisdiction], list[FeatureProblem]]:
    """Give each child without parent_code the parent it overlaps most; report the orphans.

    Ties go to the lowest parent code. A child that overlaps no parent by any area keeps no
    parent and is reported, by its feature number in ``numbers`` (else its position).
    Children that already have a parent_code are returned as is.
    """
    if parents and children:
        deepest_parent = max(parents, key=lambda p: level_depth(p.level))
        highest_child = min(children, key=lambda c: level_depth(c.level))
        if level_depth(deepest_parent.level) >= level_depth(highest_child.level):
            raise ValueError(
                f"parent {deepest_parent.code} ({deepest_parent.level}) is not above child "
                f"{highest_child.code} ({highest_child.level})"
            )
    result = list(children)
    problems: list[FeatureProblem] = []
    todo = [i for i, c in enumerate(children) if c.parent_code is None]
    if not todo:
        return result, problems
    best: dict[int, tuple[float, str]] = {}
    if parents:
        parent_geoms = np.array([p.geometry for p in parents], dtype=object)
        child_geoms = np.array([children[i].geometry for i in todo], dtype=object)
        tree = shapely.STRtree(parent_geoms)
        ci, pi = tree.query(child_geoms, predicate="intersects")
        areas = shapely.area(shapely.intersection(child_geoms[ci], parent_geoms[pi]))
        for c, p, area in zip(ci.tolist(), pi.tolist(), areas.tolist(), strict=True):
            if area <= 0.0:
                continue
            code = parents[p].code
            current = best.get(c)
            if current is None or area > current[0] or (area == current[0] and code < current[1]):
                best[c] = (area, code)
    for k, i in enumerate(todo):
        child = children[i]
        if k in best:
            result[i] = replace(child, parent_code=best[k][1])
        else:
            number = numbers[i] if numbers is not None else i + 1
            problems.append(
                FeatureProblem(
                    number, child.name, f"第{number}个要素「{child.name}」: 不在任何上级辖区内"
                )
            )
    return result, problems
