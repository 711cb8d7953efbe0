"""The levels of territory, from the county down to the micro-grid."""

from enum import StrEnum


class Level(StrEnum):
    """One level of the territorial hierarchy."""

    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"
    MICROGRID = "microgrid"


LEVELS_TOP_DOWN: tuple[Level, ...] = (
    Level.COUNTY,
    Level.TOWNSHIP,
    Level.VILLAGE,
    Level.GRID,
    Level.MICROGRID,
)

LEVEL_LABELS: dict[Level, str] = {
    Level.COUNTY: "县(区)",
    Level.TOWNSHIP: "乡镇(街道)",
    Level.VILLAGE: "村(社区)",
    Level.GRID: "网格",
    Level.MICROGRID: "微网格",
}

_DEPTH: dict[Level, int] = {level: depth for depth, level in enumerate(LEVELS_TOP_DOWN)}


def level_depth(level: Level) -> int:
    """Return the depth of a level: 0 for the county, 4 for the micro-grid."""
    return _DEPTH[level]


def level_above(level: Level) -> Level | None:
    """Return the level directly above, or None for the county."""
    depth = _DEPTH[level]
    return LEVELS_TOP_DOWN[depth - 1] if depth > 0 else None
