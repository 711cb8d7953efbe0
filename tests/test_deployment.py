"""The deployment files: compose parses, services wait on healthy ones, the image is ours."""

from __future__ import annotations

import tomllib

import yaml

from tests.conftest import REPO


def test_compose_services_have_healthchecks_and_wait_for_migration() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "scheduler"} <= set(services)
    for name in ("postgres", "redis", "api", "worker", "scheduler"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["migrate"]["command"] == ["sipingtai", "db", "upgrade"]
    assert services["worker"]["command"] == ["sipingtai", "worker"]
    environment = services["api"]["environment"]
    assert environment["SIPINGTAI_DEMO"] == "false"  # production refuses placeholder secrets
    assert ":?" in environment["SIPINGTAI_SECRET_KEY"]


def test_image_installs_exactly_our_three_packages() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    packages = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]["include"]
    assert {p.split(".")[0] for p in packages} == {"dispatch", "geo", "service"}
    for top in {p.split(".")[0] for p in packages}:
        assert f"COPY {top} ./{top}" in dockerfile
    assert "requirements.lock" in dockerfile


def test_image_builds_the_pages_and_serves_them_from_where_it_put_them() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "npm ci" in dockerfile and "npm run build" in dockerfile
    assert "COPY --from=pages /pages/dist ./frontend/dist" in dockerfile
    assert "SIPINGTAI_FRONTEND_DIR=/app/frontend/dist" in dockerfile
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert "frontend/node_modules" in ignored


def test_the_pages_are_looked_for_where_the_build_puts_them() -> None:
    from dispatch.core.settings import Settings

    assert Settings().frontend_dir == REPO / "frontend" / "dist"
