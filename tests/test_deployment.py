"""The deployment files: compose parses, services wait on healthy ones, the image is ours."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
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


LONG_RUNNING = ("postgres", "redis", "api", "worker", "scheduler")


def compose_services() -> dict[str, Any]:
    """Return the services of docker-compose.yml, the x-app anchor merged in."""
    document = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    found: dict[str, Any] = document["services"]
    return found


def check_command(service: dict[str, Any]) -> str:
    """Return a healthcheck's test as one string, without its CMD / CMD-SHELL word."""
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_restarts_and_is_checked_regularly(name: str) -> None:
    service = compose_services()[name]
    assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
    assert check_command(service)
    for key in ("interval", "timeout", "retries"):
        assert key in service["healthcheck"], f"{name}: healthcheck without {key}"


def test_each_healthcheck_asks_the_right_thing() -> None:
    services = compose_services()
    assert "/api/health" in check_command(services["api"])
    assert check_command(services["worker"]) == "sipingtai health --process worker"
    assert check_command(services["scheduler"]) == "sipingtai health --process scheduler"
    assert check_command(services["postgres"]).startswith("pg_isready")
    assert check_command(services["redis"]) == "redis-cli ping"


def test_the_one_shot_migration_is_not_restarted_and_the_app_waits_for_it() -> None:
    services = compose_services()
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["image"] == "sipingtai:latest", "the x-app anchor is merged"


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
