"""Make the reports the load generators post: points in demo grids, hand-written descriptions."""

from __future__ import annotations

import csv
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ADDRESSES = (
    "东村三组",
    "建设路 18 号",
    "新市镇农贸市场北门",
    "翠园小区 5 栋",
    "清河大道与人民路口",
)


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """Read hand-written (description, matter code) pairs from a labelled CSV file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [(r["description"], r["matter_code"].strip()) for r in csv.DictReader(handle)]


def demo_labelled() -> list[tuple[str, str]]:
    """Return the demo's hand-written (description, matter code) pairs."""
    from dispatch.demo import demo_file

    return read_labelled(demo_file("labelled_descriptions.csv"))


def grid_points(count: int, seed: int) -> list[tuple[float, float]]:
    """Return random points strictly inside random demo grids."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    from dispatch.demo import demo_file

    grids = json.loads(demo_file("grids.geojson").read_text(encoding="utf-8"))["features"]
    polygons = [shape(f["geometry"]) for f in grids]
    rng = np.random.default_rng(seed)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        polygon = polygons[int(rng.integers(len(polygons)))]
        x0, y0, x1, y1 = polygon.bounds
        xs, ys = rng.uniform(x0, x1, 32), rng.uniform(y0, y1, 32)
        inside = shapely.contains_xy(polygon, xs, ys)
        points.extend((float(x), float(y)) for x, y in zip(xs[inside], ys[inside], strict=True))
    return points[:count]


@dataclass(frozen=True)
class ReportPool:
    """What generators draw reports from; calling it makes one report body.

    Picklable, so spawned generator processes get it whole.
    """

    points: list[tuple[float, float]]
    coded: list[tuple[str, str]]  # (description, matter code in force)
    uncoded: list[str]  # descriptions to send without a matter code
    coded_share: float = 0.85
    urgent_share: float = 0.05
    address_share: float = 0.3

    def __call__(self, rng: random.Random) -> bytes:
        """Return one report as JSON bytes, with a fresh client id."""
        lon, lat = rng.choice(self.points)
        body: dict[str, object] = {
            "client_id": str(uuid.uuid4()),
            "reported_at": datetime.now(UTC).isoformat(),
            "lon": lon,
            "lat": lat,
            "source": "grid",
        }
        if rng.random() < self.coded_share:
            body["description"], body["matter_code"] = rng.choice(self.coded)
        else:
            body["description"] = rng.choice(self.uncoded)
        if rng.random() < self.urgent_share:
            body["urgency"] = "urgent"
        if rng.random() < self.address_share:
            body["address"] = rng.choice(ADDRESSES)
        return json.dumps(body, ensure_ascii=False).encode()


def matter_codes(url: str) -> list[str]:
    """Return the matter codes of the demo county's list in force."""
    from dispatch.core.clock import utcnow
    from dispatch.core.db import make_engine, session_scope
    from dispatch.reference.jurisdictions import choose_county
    from dispatch.reference.lists.versions import list_in_force, load_rules

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            county = choose_county(session, None)
            assert county is not None, "the demo county did not load"
            in_force = list_in_force(session, county, utcnow())
            assert in_force is not None and in_force.id is not None, "no matter list in force"
            return [m.code for m in load_rules(session, in_force.id).matters]
    finally:
        engine.dispose()


def demo_pool(url: str, seed: int) -> ReportPool:
    """Return reports for the demo county loaded at url: its grids, its labelled descriptions."""
    codes = set(matter_codes(url))
    labelled = demo_labelled()
    return ReportPool(
        points=grid_points(4000, seed=seed),
        coded=[(d, c) for d, c in labelled if c in codes],
        uncoded=[d for d, _ in labelled],
    )


def prepared_demo(url: str, database: str, seed: int) -> ReportPool:
    """Migrate the scratch database, load the demo county and users; return its reports."""
    from bench.harness.db import load_demo_database
    from bench.harness.processes import say

    say(f"preparing {database}: migrate, demo county, demo users")
    load_demo_database(url)
    return demo_pool(url, seed)
