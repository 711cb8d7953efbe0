"""A running API and a running worker route by reference data changed under them, within 5 s.

The API serves over the loop database; a real `sipingtai worker` process (not burst, so it
has built its index before the change) routes. Each change is committed by the domain's own
import functions, as the CLI would, and each test measures from that commit.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from dispatch.core.db import session_scope
from dispatch.demo import demo_file
from dispatch.demo.seed import DEMO_COUNTY_CODE
from dispatch.events.models import Assignment
from dispatch.reference.departments import import_departments
from dispatch.reference.jurisdictions import import_layer
from dispatch.reference.lists.importer import import_matter_list
from dispatch.reference.models import Department
from geo.geojson import FieldMapping
from geo.levels import Level
from tests.loop_fixtures import Loop
from tests.service.test_loop import report_body

PICKUP_S = 5.0
FAR_AWAY = (101.05, 30.05)  # far west of the demo county: inside no jurisdiction yet


def within(seconds: float, check: Callable[[], Any]) -> float:
    """Poll check until it returns something true; return how long it took, or fail."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            pytest.fail(f"not picked up within {seconds} s")
        time.sleep(0.1)


@pytest.fixture
def worker(loop: Loop) -> Iterator[None]:
    """Run a real, long-lived worker process over the loop database and Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": loop.settings.database_url or "",
        "REDIS_URL": loop.redis_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from service.cli import app; app()", "worker"],
        env=env,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # it builds its index before taking jobs
        assert process.poll() is None, "the worker died at start-up"
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a warm shutdown still finishing a job on a slow machine
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def lead_department(loop: Loop, event_id: int) -> Department | None:
    """Return the department of the event's lead part, once routed."""
    with Session(loop.engine) as session:
        found = session.exec(
            select(Department)
            .join(Assignment, Assignment.department_id == Department.id)  # type: ignore[arg-type]
            .where(Assignment.event_id == event_id, Assignment.role == "lead")
        ).first()
        return found


def post_report(loop: Loop) -> int:
    """Report the demo street-stall case (C-004) in 新市镇 as the grid worker."""
    response = loop.client.post("/api/events", json=report_body(), headers=loop.token("grid"))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_the_api_locates_in_a_layer_imported_while_it_runs(loop: Loop) -> None:
    lon, lat = FAR_AWAY
    assert not loop.client.get("/api/locate", params={"lon": lon, "lat": lat}).json()["chain"]
    square = [[lon - 0.1, lat - 0.1], [lon + 0.1, lat - 0.1], [lon + 0.1, lat + 0.1],
              [lon - 0.1, lat + 0.1], [lon - 0.1, lat - 0.1]]  # fmt: skip
    layer = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "远方县", "code": "510999"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            }
        ],
    }
    with session_scope(loop.engine) as session:
        import_layer(
            session, layer, level=Level.COUNTY, mapping=FieldMapping(name="name", code="code")
        )

    def located() -> bool:
        chain = loop.client.get("/api/locate", params={"lon": lon, "lat": lat}).json()["chain"]
        return bool(chain) and chain[0]["code"] == "510999"

    assert within(PICKUP_S, located) < PICKUP_S


def test_the_worker_routes_by_a_department_change(loop: Loop, worker: None, tmp_path: Path) -> None:
    before = post_report(loop)
    within(15, lambda: lead_department(loop, before))
    first = lead_department(loop, before)
    assert first is not None and first.name == "第二执法中队"
    # 新市镇 moves from the second enforcement squad to the first.
    rows = list(
        csv.reader(demo_file("departments.csv").read_text(encoding="utf-8-sig").splitlines())
    )
    for row in rows:
        if row[0] == "第一执法中队":
            row[4] += "、新市镇"
        elif row[0] == "第二执法中队":
            row[4] = row[4].replace("新市镇、", "")
    changed = tmp_path / "departments.csv"
    with changed.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with session_scope(loop.engine) as session:
        import_departments(session, changed)

    def routed_to_the_first_squad() -> bool:
        event_id = post_report(loop)
        found = within(10, lambda: lead_department(loop, event_id))
        assert found < 10
        lead = lead_department(loop, event_id)
        return lead is not None and lead.name == "第一执法中队"

    assert within(PICKUP_S + 3, routed_to_the_first_squad) < PICKUP_S + 3


def test_the_worker_routes_by_a_list_published_while_it_runs(
    loop: Loop, worker: None, tmp_path: Path
) -> None:
    lines = demo_file("matter_list_v2.csv").read_text(encoding="utf-8-sig").splitlines()
    rows = list(csv.reader(lines))
    header = rows[0]
    lead, code = header.index("牵头部门"), header.index("事项编码")
    co = header.index("协同部门")
    for row in rows[1:]:
        if row[code] == "C-004":
            row[lead], row[co] = "县公安局", ""
    revised = tmp_path / "matter_list_v3.csv"
    with revised.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with session_scope(loop.engine) as session:
        import_matter_list(
            session,
            revised,
            county_code=DEMO_COUNTY_CODE,
            effective_from=date.today(),
            publish=True,
        )

    def routed_to_the_police() -> bool:
        event_id = post_report(loop)
        within(10, lambda: lead_department(loop, event_id))
        found = lead_department(loop, event_id)
        return found is not None and found.name in ("县公安局", "新市派出所")

    assert within(PICKUP_S + 3, routed_to_the_police) < PICKUP_S + 3
