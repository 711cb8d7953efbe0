"""Fixtures shared by the geo tests."""

import pytest

from geo import Jurisdiction, JurisdictionIndex
from tests.geo.geo_cases import hierarchy, tiling_jurisdictions


@pytest.fixture(scope="session")
def index() -> JurisdictionIndex:
    return JurisdictionIndex.build(hierarchy())


@pytest.fixture(scope="session")
def tiling() -> list[Jurisdiction]:
    return tiling_jurisdictions(20, 20)


@pytest.fixture(scope="session")
def tiling_index(tiling: list[Jurisdiction]) -> JurisdictionIndex:
    return JurisdictionIndex.build(tiling)
