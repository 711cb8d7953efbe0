"""The committed OpenAPI document and the pages' generated types follow the API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from service import vocabulary
from service.openapi import render
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
