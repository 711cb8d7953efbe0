"""The committed OpenAPI document and the pages' generated types follow the API."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatch.boards.cards import Names, build_cards
from dispatch.events.models import Assignment, AssignmentRole, Event, EventStatus
from service import vocabulary
from service.openapi import openapi_document, render
from tests.conftest import REPO

FRONTEND = REPO / "frontend"
REGENERATE = "regenerate them with `./dev types` and commit them"


def test_the_committed_openapi_document_is_current() -> None:
    committed = (FRONTEND / "openapi.json").read_text(encoding="utf-8")
    assert render() == committed, f"frontend/openapi.json is out of date: {REGENERATE}"


def test_the_generated_typescript_types_are_current(tmp_path: Path) -> None:
    generator = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists() or shutil.which("node") is None:
        pytest.skip("openapi-typescript is not installed: cd frontend && npm ci")
    out = tmp_path / "api-types.ts"
    subprocess.run(
        [str(generator), str(FRONTEND / "openapi.json"), "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    committed = (FRONTEND / "src" / "api-types.ts").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        f"frontend/src/api-types.ts is out of date: {REGENERATE}"
    )


def test_the_pages_label_every_code_as_the_server_does() -> None:
    committed = (FRONTEND / "src" / "vocabulary.json").read_text(encoding="utf-8")
    assert vocabulary.render() == committed, (
        f"frontend/src/vocabulary.json is out of date: {REGENERATE}"
    )
    words = vocabulary.vocabulary()
    assert "verified" in words["open_event_status"], "the township still has to close it"
    assert not {"closed", "rated", "invalid", "merged"} & set(words["open_event_status"])


def test_the_document_describes_the_cards_the_boards_send() -> None:
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    event = Event(
        id=1, client_id="c1", status=EventStatus.DISPATCHED, source="grid", reported_at=at,
        received_at=at, raw_lon=120.0, raw_lat=31.5, crs="wgs84", lon=120.0, lat=31.5,
        description="占道", updated_at=at,
    )  # fmt: skip
    part = Assignment(id=2, event_id=1, department_id=3, role=AssignmentRole.LEAD, created_at=at)
    (card,) = build_cards([event], {1: [part]}, Names({}, {}, {}, {}))

    schemas = openapi_document()["components"]["schemas"]
    assert set(schemas["EventCard"]["properties"]) == set(card)
    assert set(schemas["EventCard"]["required"]) == set(card)
    assert set(schemas["AssignmentCard"]["properties"]) == set(card["assignments"][0])
    items = schemas["EventCard"]["properties"]["assignments"]["items"]
    assert items == {"$ref": "#/components/schemas/AssignmentCard"}
