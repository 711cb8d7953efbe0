"""Security headers on the pages, the API and /docs; /docs without a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dispatch.core.db import make_engine, session_scope
from dispatch.core.settings import Settings
from dispatch.users.service import DEMO_PASSWORD, ensure_demo_users
from service.app import create_app
from service.security import pages_policy, tile_source
from tests.conftest import REPO

PAGES = REPO / "frontend" / "dist"
TILES = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"


@pytest.fixture(scope="module")
def client(
    demo_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Serve the app over the demo database (with its demo users), a tile layer configured."""
    engine = make_engine(demo_database_url)
    with session_scope(engine) as session:
        ensure_demo_users(session)
    engine.dispose()
    settings = Settings(
        DATABASE_URL=demo_database_url,
        data_dir=tmp_path_factory.mktemp("headers"),
        demo=True,
        tile_url=TILES,
        frontend_dir=PAGES,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/config", 200),
        ("/api/auth/me", 401),
        ("/api/events/1", 401),
        ("/docs", 200),
        ("/openapi.json", 200),
        ("/", None),
    ],
)
def test_every_answer_carries_the_security_headers(
    client: TestClient, path: str, status: int | None
) -> None:
    response = client.get(path)
    if status is not None:
        assert response.status_code == status
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp


def test_the_pages_policy_allows_exactly_the_configured_tiles(client: TestClient) -> None:
    csp = client.get("/api/config").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tile.openstreetmap.org;" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "connect-src 'self';" in csp


def test_the_docs_load_nothing_from_another_origin(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=\"https?://", page.text), page.text
    assert "/swagger-ui/swagger-ui-bundle.js" in page.text
    # Its one inline script runs by its hash, and only the docs get it.
    assert "'sha256-" in page.headers["Content-Security-Policy"]
    assert "'sha256-" not in client.get("/api/config").headers["Content-Security-Policy"]
    assert "redoc" not in client.get("/redoc").text.lower()  # ReDoc would need a CDN: off


@pytest.mark.skipif(not (PAGES / "index.html").is_file(), reason="pages not built (./dev test)")
def test_the_swagger_ui_assets_come_with_the_built_pages(client: TestClient) -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/swagger-ui/{asset}")
        assert response.status_code == 200, asset
        assert len(response.content) > 10_000


@pytest.mark.parametrize(
    ("template", "source"),
    [
        ("", None),
        ("/tiles/{z}/{x}/{y}.png", None),
        (TILES, "https://*.tile.openstreetmap.org"),
        ("https://tiles.example.cn:8443/{z}/{x}/{y}.png", "https://tiles.example.cn:8443"),
        ("http://10.0.0.5/tiles/{z}/{x}/{y}.png", "http://10.0.0.5"),
        ("https://t{s}.example.cn/{z}/{x}/{y}.png", "https:"),
        ("javascript:alert(1)", None),
    ],
)
def test_the_tile_source_of_a_template(template: str, source: str | None) -> None:
    assert tile_source(template) == source
    if source:
        assert f"img-src 'self' data: blob: {source};" in pages_policy(template)


def test_a_token_answer_is_never_cached(client: TestClient) -> None:
    response = client.post("/api/auth/token", data={"username": "admin", "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_the_pages_may_run_their_own_service_worker_only() -> None:
    assert "worker-src 'self';" in pages_policy("https://{s}.tiles.example.org/{z}/{x}/{y}.png")
