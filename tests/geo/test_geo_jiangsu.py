"""The real boundaries of Jiangsu's 95 counties: import, index and locate each county."""

import pytest

from geo import JurisdictionIndex, Level
from geo.geojson import FieldMapping, parse_feature_collection
from geo.topology import check_siblings
from tests.conftest import JIANGSU


@pytest.fixture(scope="module")
def counties() -> list:
    layer = parse_feature_collection(JIANGSU.read_bytes(), Level.COUNTY, FieldMapping(name="name"))
    assert layer.refused == []
    return layer.jurisdictions


def test_all_95_counties_import_with_stable_derived_codes(counties: list) -> None:
    assert len(counties) == 95
    again = parse_feature_collection(JIANGSU.read_bytes(), Level.COUNTY, FieldMapping(name="name"))
    assert [c.code for c in again.jurisdictions] == [c.code for c in counties]
    assert len({c.code for c in counties}) == 95
    assert any(c.name == "玄武区" for c in counties)
    assert sum(len(c.geometry.geoms) for c in counties) > 95
    assert any(p.interiors for c in counties for p in c.geometry.geoms)


def test_every_county_locates_its_own_representative_point(counties: list) -> None:
    index = JurisdictionIndex.build(counties)
    for county in counties:
        lon, lat = county.geometry.representative_point().coords[0]
        loc = index.locate(lon, lat)
        assert loc.leaf is not None and loc.leaf.code == county.code, county.name
        assert loc.chain == (county,)


def test_bulk_agrees_on_the_real_boundaries(counties: list) -> None:
    import numpy as np

    index = JurisdictionIndex.build(counties)
    rng = np.random.default_rng(2)
    xs, ys = rng.uniform(116.3, 121.9, 3000), rng.uniform(30.7, 35.2, 3000)
    many = index.locate_many(xs, ys)
    for i, (lon, lat) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
        loc = index.locate(lon, lat)
        assert many.codes[Level.COUNTY][i] == (loc.leaf.code if loc.leaf else "")
        assert bool(many.near_boundary[i]) == (loc.near_boundary is not None)
    assert 0 < many.located().sum() < len(xs)


def test_neighbouring_counties_do_not_overlap_much(counties: list) -> None:
    issues = check_siblings(counties, min_area_m2=10_000.0)
    assert all(issue.kind == "overlap" for issue in issues)
    assert len(issues) < 10
