"""Pure geometry for Sipingtai: jurisdictions, the spatial index and coordinate systems.

Only shapely, numpy and the standard library are used here: no database, no Redis, no
settings and no environment variables. The index is built once and queried many times.
"""

from geo.coords import CoordinateError, Crs, from_wgs84, parse_crs, to_wgs84, validate_lonlat
from geo.index import BulkLocation, JurisdictionIndex, Location, Neighbour
from geo.jurisdiction import Jurisdiction
from geo.levels import LEVEL_LABELS, LEVELS_TOP_DOWN, Level, level_above

__all__ = [
    "LEVELS_TOP_DOWN",
    "LEVEL_LABELS",
    "BulkLocation",
    "CoordinateError",
    "Crs",
    "Jurisdiction",
    "JurisdictionIndex",
    "Level",
    "Location",
    "Neighbour",
    "from_wgs84",
    "level_above",
    "parse_crs",
    "to_wgs84",
    "validate_lonlat",
]
