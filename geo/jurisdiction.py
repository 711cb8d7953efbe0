"""One jurisdiction (辖区): a named, coded polygon at one level of the hierarchy."""

from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon

from geo.levels import Level, level_depth


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A county, township, village, grid or micro-grid with its WGS84 lon/lat geometry.

    ``parent_code`` points to the jurisdiction one or more levels above (None at the top
    or when unknown). The geometry must be a non-empty Polygon or MultiPolygon.
    """

    code: str
    name: str
    level: Level
    parent_code: str | None
    geometry: Polygon | MultiPolygon
    population: int | None = None

    def __post_init__(self) -> None:
        if not self.code or self.code != self.code.strip():
            raise ValueError(f"jurisdiction code {self.code!r} is empty or has outer spaces")
        if not isinstance(self.level, Level):
            raise ValueError(f"jurisdiction {self.code}: level {self.level!r} is not a Level")
        if not isinstance(self.geometry, Polygon | MultiPolygon) or self.geometry.is_empty:
            kind = getattr(self.geometry, "geom_type", type(self.geometry).__name__)
            raise ValueError(
                f"jurisdiction {self.code}: geometry must be a non-empty Polygon or "
                f"MultiPolygon, not {kind}"
            )
        if self.parent_code == self.code:
            raise ValueError(f"jurisdiction {self.code} is its own parent")
        if self.population is not None and self.population < 0:
            raise ValueError(f"jurisdiction {self.code}: population {self.population} < 0")

    @property
    def depth(self) -> int:
        """Return the depth of this jurisdiction's level (0 for a county)."""
        return level_depth(self.level)
