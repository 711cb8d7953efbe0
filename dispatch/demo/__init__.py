"""The illustrative demo county 清河县 (示例): boundaries, departments, matter lists, reports.

The files in `data/` are committed; `python -m dispatch.demo.generate` rebuilds them
byte for byte. Boundaries are illustrative only (示例数据，边界仅作演示).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR: Path = Path(__file__).resolve().parent / "data"

#: GeoJSON file of each jurisdiction level, top down.
LAYER_FILES: dict[str, str] = {
    "county": "county.geojson",
    "township": "townships.geojson",
    "village": "villages.geojson",
    "grid": "grids.geojson",
}


def demo_file(name: str) -> Path:
    """Return the path of one committed demo data file, refusing names outside the data folder."""
    path = DATA_DIR / name
    if path.parent != DATA_DIR or not path.is_file():
        raise FileNotFoundError(f"no demo data file named {name!r} in {DATA_DIR}")
    return path
