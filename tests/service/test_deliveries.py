"""GET /api/deliveries for the command centre, and `sipingtai dept webhook`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlmodel import Session, select

from dispatch.core.clock import utcnow
from dispatch.core.db import make_engine, session_scope
from dispatch.delivery.models import DeliveryStatus, WebhookDelivery
from dispatch.events.models import Assignment
from dispatch.reference.models import Department
from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop
from tests.service.conftest import RunCli


def routed_assignments(loop: Loop) -> list[Assignment]:
    """Report an event as the grid worker, route it, and return its assignments."""
    lon, lat = demo_grid_point("320999004", nth=3)
    report = {
        "client_id": str(uuid4()),
        "reported_at": "2026-11-20T09:30:00+08:00",
        "lon": lon,
        "lat": lat,
        "description": "路边堆了一大堆建材和杂物",
        "matter_code": "C-005",
    }
    response = loop.client.post("/api/events", json=report, headers=loop.token("grid"))
    assert response.status_code == 201, response.text
    loop.run_worker()
    with Session(loop.engine) as session:
        rows = session.exec(
            select(Assignment).where(Assignment.event_id == response.json()["id"])
        ).all()
    assert len(rows) >= 2
    return list(rows)


def test_the_centre_lists_failed_deliveries_with_the_reason(loop: Loop) -> None:
    failed_part, delivered_part = routed_assignments(loop)[:2]
    assert failed_part.id is not None and delivered_part.id is not None
    with session_scope(loop.engine) as session:
        failed = WebhookDelivery(
            assignment_id=failed_part.id,
            url="https://zhifa.example.org/hook",
            attempts=6,
            status=DeliveryStatus.FAILED,
            last_status_code=500,
            last_error="HTTP 500: upstream down",
        )
        delivered = WebhookDelivery(
            assignment_id=delivered_part.id,
            url="https://other.example.org/hook",
            attempts=1,
            status=DeliveryStatus.DELIVERED,
            last_status_code=200,
            delivered_at=utcnow(),
        )
        session.add_all([failed, delivered])
        session.flush()
        failed_id = failed.id
        department = session.get(Department, failed_part.department_id)
        assert department is not None

    for user in ("centre", "admin"):
        response = loop.client.get(
            "/api/deliveries", params={"status": "failed"}, headers=loop.token(user)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert {d["status"] for d in body["data"]} == {"failed"}
        (row,) = [d for d in body["data"] if d["id"] == failed_id]
        assert row["last_error"] == "HTTP 500: upstream down" and row["attempts"] == 6
        assert row["department_name"] == department.name
        assert row["event_id"] == failed_part.event_id and row["role"] == failed_part.role
        assert body["count"] == len(body["data"])

    everything = loop.client.get("/api/deliveries", headers=loop.token("centre")).json()
    assert {d["status"] for d in everything["data"]} >= {"failed", "delivered"}


def test_only_the_centre_and_admins_may_list_deliveries(loop: Loop) -> None:
    for user in ("grid", "township", "zhifa"):
        response = loop.client.get("/api/deliveries", headers=loop.token(user))
        assert response.status_code == 403, (user, response.text)
        assert "县社会治理中心" in response.json()["detail"]["message"]
    assert loop.client.get("/api/deliveries").status_code == 401


def test_an_unknown_status_is_a_422_naming_the_parameter(loop: Loop) -> None:
    response = loop.client.get(
        "/api/deliveries", params={"status": "lost"}, headers=loop.token("centre")
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "query.status"


def test_dept_webhook_sets_checks_and_clears(
    cli: RunCli, empty_database_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "departments.csv"
    directory.write_text("部门名称,简称,类型\n县综合行政执法局,综合执法局,县级部门\n", "utf-8")
    assert cli("dept", "import", str(directory)).exit_code == 0

    made = cli("dept", "webhook", "综合执法局", "--url", "https://zhifa.example.org/hook")
    assert made.exit_code == 0, made.output
    assert "县综合行政执法局 → https://zhifa.example.org/hook" in made.output
    secret = made.output.strip().rsplit(" ", 1)[-1]
    assert len(secret) >= 32

    given = cli(
        "dept",
        "webhook",
        "县综合行政执法局",
        "--url",
        "https://zhifa.example.org/v2",
        "--secret",
        "a-secret-chosen-by-the-department",
    )
    assert given.exit_code == 0 and "签名密钥" not in given.output
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        row = session.exec(select(Department)).one()
        assert row.webhook_url == "https://zhifa.example.org/v2"
        assert row.webhook_secret == "a-secret-chosen-by-the-department"

    refused = cli("dept", "webhook", "县综合行政执法局", "--url", "ftp://zhifa.example.org/")
    assert refused.exit_code == 2 and "http://" in refused.output
    unknown = cli("dept", "webhook", "县不存在局", "--url", "https://example.org/")
    assert unknown.exit_code == 2 and "不在部门名录中" in unknown.output
    neither = cli("dept", "webhook", "县综合行政执法局")
    assert neither.exit_code == 2 and "--clear" in neither.output

    cleared = cli("dept", "webhook", "县综合行政执法局", "--clear")
    assert cleared.exit_code == 0 and "webhook removed" in cleared.output
    with Session(engine) as session:
        assert session.exec(select(Department)).one().webhook_url is None
    engine.dispose()
