"""Coverage checks between sibling jurisdictions: overlaps between them, gaps in the parent.

Areas are in square metres through the sinusoidal projection (x = lon * cos(lat), both
scaled by metres per degree), which is equal-area on the sphere: good to well under 1% for
reporting, with no projection library.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from geo._raster import M_PER_DEG
from geo.jurisdiction import Jurisdiction


@dataclass(frozen=True)
class CoverageIssue:
    """Two or more siblings overlapping, or a gap of the parent that no child covers."""

    kind: Literal["overlap", "gap"]
    codes: tuple[str, ...]
    area_m2: float
    where: tuple[float, float]


def _to_metres(coords: np.ndarray) -> np.ndarray:
    lon, lat = coords[:, 0], coords[:, 1]
    return np.column_stack((lon * np.cos(np.radians(lat)) * M_PER_DEG, lat * M_PER_DEG))


def area_m2(geom: shapely.Geometry) -> float:
    """Return the area of a lon/lat geometry in square metres.

    Examples
    --------
    >>> round(area_m2(shapely.box(120.0, 30.0, 120.01, 30.01)) / 1e6, 3)
    1.071
    """
    return float(shapely.area(shapely.transform(geom, _to_metres)))


def _areas_m2(geoms: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.area(shapely.transform(geoms, _to_metres)), dtype=np.float64)


def _where(geom: shapely.Geometry) -> tuple[float, float]:
    point = shapely.point_on_surface(geom)
    return (float(point.x), float(point.y))


def check_siblings(
    children: Sequence[Jurisdiction],
    parent: Jurisdiction | None = None,
    min_area_m2: float = 1.0,
) -> list[CoverageIssue]:
    """Return overlaps between siblings and, with ``parent``, the gaps none of them covers.

    Candidate pairs come from an STRtree, so the cost grows with the number of touching
    pairs, not with the square of the number of children. Issues smaller than
    ``min_area_m2`` (slivers from digitising) are left out. Overlaps come first, then gaps,
    each sorted by codes then position.
    """
    issues: list[CoverageIssue] = []
    geoms = np.array([c.geometry for c in children], dtype=object)
    if len(geoms):
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        pair = left < right
        left, right = left[pair], right[pair]
        shared = shapely.intersection(geoms[left], geoms[right])
        polygonal = shapely.get_dimensions(shared) == 2
        left, right, shared = left[polygonal], right[polygonal], shared[polygonal]
        for i, j, geom, area in zip(left, right, shared, _areas_m2(shared), strict=True):
            if area >= min_area_m2:
                codes = tuple(sorted((children[i].code, children[j].code)))
                issues.append(CoverageIssue("overlap", codes, float(area), _where(geom)))
    if parent is not None:
        covered = shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
        gap = shapely.difference(parent.geometry, covered)
        parts = shapely.get_parts(gap)
        parts = parts[shapely.get_dimensions(parts) == 2] if len(parts) else parts
        for geom, area in zip(parts, _areas_m2(parts), strict=True):
            if area >= min_area_m2:
                issues.append(CoverageIssue("gap", (parent.code,), float(area), _where(geom)))
    issues.sort(key=lambda issue: (issue.kind != "overlap", issue.codes, issue.where))
    return issues
