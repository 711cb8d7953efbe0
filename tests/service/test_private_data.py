"""Data files for the owner only (the SQLite file holds password hashes), and demo mode guarded."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import text

from dispatch.core.db import make_engine, migrate
from dispatch.core.settings import Settings, get_settings
from service.cli import is_loopback
from tests.loop_fixtures import Loop
from tests.service.conftest import RunCli
from tests.service.test_loop import report

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def mode(path: Path) -> int:
    """Return the permission bits of a path."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Run with the common umask 022, under which new files would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_sqlite_file_and_its_journal_are_owner_only(tmp_path: Path, usual_umask: None) -> None:
    database = tmp_path / "data" / "sipingtai.db"
    url = f"sqlite:///{database}"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM app_user"))
            for path in (database, database.with_name("sipingtai.db-wal")):
                assert path.exists()
                assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
    finally:
        engine.dispose()
    assert mode(database.parent) == 0o700


def test_a_world_readable_database_from_before_is_tightened(
    tmp_path: Path, usual_umask: None
) -> None:
    database = tmp_path / "old.db"
    url = f"sqlite:///{database}"
    migrate(url)
    os.chmod(database, 0o644)
    make_engine(url).dispose()
    assert mode(database) == 0o600


def test_the_demo_key_file_and_its_directory_are_owner_only(
    tmp_path: Path, usual_umask: None
) -> None:
    data_dir = tmp_path / "fresh"
    Settings(data_dir=data_dir, demo=True).resolved_secret_key()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret_key") == 0o600


def test_uploaded_photos_are_owner_only(loop: Loop, usual_umask: None) -> None:
    event_id = report(loop)
    stored = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("现场.png", PNG_1PX)},
        headers=loop.token("grid"),
    )
    assert stored.status_code == 201, stored.text
    folder = loop.settings.data_dir / "attachments" / str(event_id)
    files = list(folder.iterdir())
    assert files and all(mode(f) == 0o600 for f in files), [oct(mode(f)) for f in files]
    assert mode(folder) == 0o700


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("sipingtai.example", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


MIGRATED = 99  # the exit status `up` ends with here once it got past its checks


@pytest.fixture
def up_stops_at_migrate(monkeypatch: pytest.MonkeyPatch, cli: RunCli) -> RunCli:
    """Run `up` only as far as its checks: where it would migrate, it exits with MIGRATED."""

    def stop(_url: str) -> None:
        raise typer.Exit(code=MIGRATED)

    monkeypatch.setenv("SIPINGTAI_DEMO", "true")
    monkeypatch.setattr("service.cli.migrate", stop)
    get_settings.cache_clear()
    return cli


def test_up_in_demo_mode_says_so_loudly(up_stops_at_migrate: RunCli, tmp_path: Path) -> None:
    result = up_stops_at_migrate("up", "--data-dir", str(tmp_path))
    assert result.exit_code == MIGRATED
    assert "演示模式 DEMO MODE" in result.output
    assert "切勿用于真实数据" in result.output


def test_up_refuses_demo_mode_on_a_network_address(
    up_stops_at_migrate: RunCli, tmp_path: Path
) -> None:
    result = up_stops_at_migrate("up", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "演示模式 DEMO MODE" in result.output
    assert "Demo mode refuses to bind 0.0.0.0" in result.output
    assert "--allow-demo-on-network" in result.output


def test_up_serves_demo_mode_on_the_network_only_when_asked(
    up_stops_at_migrate: RunCli, tmp_path: Path
) -> None:
    result = up_stops_at_migrate(
        "up", "--host", "0.0.0.0", "--allow-demo-on-network", "--data-dir", str(tmp_path)
    )
    assert result.exit_code == MIGRATED
    assert "演示模式 DEMO MODE" in result.output


def test_up_outside_demo_mode_binds_anywhere_without_the_banner(
    up_stops_at_migrate: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIPINGTAI_DEMO", "false")
    monkeypatch.setenv("SIPINGTAI_SECRET_KEY", "k8Jw2vQz9Lr4Xp7Tn3Yb6Hc1Fd5Gs0Ma")
    get_settings.cache_clear()
    result = up_stops_at_migrate("up", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert result.exit_code == MIGRATED
    assert "DEMO MODE" not in result.output
