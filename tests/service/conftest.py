"""Fixtures for the edge: the command line bound to a chosen database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from dispatch.core.settings import get_settings
from service.cli import app

RunCli = Callable[..., Result]


def _runner(monkeypatch: pytest.MonkeyPatch, url: str) -> RunCli:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, empty_database_url: str) -> Iterator[RunCli]:
    """Run `sipingtai` against a fresh, empty database."""
    yield _runner(monkeypatch, empty_database_url)
    get_settings.cache_clear()


@pytest.fixture
def demo_cli(monkeypatch: pytest.MonkeyPatch, demo_database_url: str) -> Iterator[RunCli]:
    """Run `sipingtai` against the shared demo database (read-only commands only)."""
    yield _runner(monkeypatch, demo_database_url)
    get_settings.cache_clear()
