"""Coverage checks: overlaps between siblings, gaps in the parent, areas in square metres."""

import pytest
import shapely
from shapely import box

from geo import Jurisdiction, Level
from geo.topology import area_m2, check_siblings


def grid(code: str, *bounds: float, parent: str | None = "T1") -> Jurisdiction:
    return Jurisdiction(code, code, Level.GRID, parent, box(*bounds))


TOWNSHIP = Jurisdiction("T1", "镇", Level.TOWNSHIP, None, box(120.0, 30.0, 120.02, 30.01))


@pytest.mark.parametrize(
    ("geom", "expected_m2"),
    [
        # 0.01 deg square at 30 N: 111,195 m * 111,195 m * cos(30.005 deg).
        (box(120.0, 30.0, 120.01, 30.01), 1.0707e6),
        (box(0.0, 0.0, 0.01, 0.01), 1.2364e6),
        (box(120.0, 60.0, 120.01, 60.01), 0.6181e6),
    ],
)
def test_area_m2(geom: shapely.Geometry, expected_m2: float) -> None:
    assert area_m2(geom) == pytest.approx(expected_m2, rel=1e-3)


def test_a_clean_tiling_has_no_issues() -> None:
    children = [grid("A", 120.0, 30.0, 120.01, 30.01), grid("B", 120.01, 30.0, 120.02, 30.01)]
    assert check_siblings(children, TOWNSHIP) == []


def test_overlap_is_found_with_its_area_and_place() -> None:
    children = [grid("B", 120.0, 30.0, 120.011, 30.01), grid("A", 120.01, 30.0, 120.02, 30.01)]
    issues = check_siblings(children, TOWNSHIP)
    assert len(issues) == 1
    issue = issues[0]
    assert issue.kind == "overlap"
    assert issue.codes == ("A", "B")
    # 0.001 x 0.01 deg at 30 N is about 107,070 m2.
    assert issue.area_m2 == pytest.approx(107_070, rel=0.01)
    assert 120.01 <= issue.where[0] <= 120.011
    assert 30.0 <= issue.where[1] <= 30.01


def test_gap_is_found_with_its_area_and_place() -> None:
    children = [grid("A", 120.0, 30.0, 120.01, 30.01), grid("B", 120.012, 30.0, 120.02, 30.01)]
    issues = check_siblings(children, TOWNSHIP)
    assert [(i.kind, i.codes) for i in issues] == [("gap", ("T1",))]
    assert issues[0].area_m2 == pytest.approx(2 * 107_070, rel=0.01)
    assert 120.01 <= issues[0].where[0] <= 120.012


def test_slivers_below_the_threshold_are_ignored() -> None:
    children = [grid("A", 120.0, 30.0, 120.01, 30.01), grid("B", 120.01, 30.0, 120.02, 30.01)]
    # A 0.1 m wide sliver along the shared edge: about 107 m2.
    tiny_overlap = [children[0], grid("C", 120.009999, 30.0, 120.02, 30.01)]
    assert check_siblings(tiny_overlap, TOWNSHIP, min_area_m2=200.0) == []
    assert len(check_siblings(tiny_overlap, TOWNSHIP, min_area_m2=50.0)) == 1


def test_without_parent_only_overlaps_are_checked() -> None:
    children = [grid("A", 120.0, 30.0, 120.01, 30.01), grid("B", 120.5, 30.0, 120.6, 30.01)]
    assert check_siblings(children) == []
    assert check_siblings([]) == []


def test_no_children_is_one_gap_of_the_whole_parent() -> None:
    issues = check_siblings([], TOWNSHIP)
    assert len(issues) == 1
    assert issues[0].area_m2 == pytest.approx(area_m2(TOWNSHIP.geometry))
