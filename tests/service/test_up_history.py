"""`sipingtai up` in demo mode writes a short past on its first start, for 考核 and 编制评估 to
show; a later start, `--no-history`, demo mode off or a database of its own write none.

`up` is stopped where it would start Redis, the worker and the API: all of this comes before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlmodel import Session, select

from dispatch.core.clock import as_utc
from dispatch.core.db import make_engine
from dispatch.core.settings import get_settings
from dispatch.demo.history import history_exists
from dispatch.events.models import Event
from tests.service.conftest import RunCli

STARTING = 98  # the exit status `up` ends with here where it would start its processes
EVENTS = 12  # the history's size is not what is tested; its being written, once, is


@pytest.fixture
def up_until_processes(monkeypatch: pytest.MonkeyPatch, cli: RunCli) -> RunCli:
    """Run `up` in demo mode on a fresh database as far as starting its processes."""

    def stop(*_args: object, **_kwargs: object) -> None:
        raise typer.Exit(code=STARTING)

    monkeypatch.setenv("SIPINGTAI_DEMO", "true")
    monkeypatch.setattr("service.processes.UpProcesses", stop)
    monkeypatch.setattr("service.cli.UP_HISTORY_EVENTS", EVENTS)
    get_settings.cache_clear()
    return cli


def reported_times(url: str) -> tuple[list[datetime], bool]:
    """Return when each stored event was reported, and whether a history is there."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            times = [as_utc(at) for at in session.exec(select(Event.reported_at)).all()]
            return times, history_exists(session)
    finally:
        engine.dispose()


def test_the_first_start_writes_a_past_and_a_second_start_writes_nothing(
    up_until_processes: RunCli, empty_database_url: str, tmp_path: Path
) -> None:
    first = up_until_processes("up", "--data-dir", str(tmp_path))
    assert first.exit_code == STARTING, first.output
    assert "首次启动，写入示例历史" in first.output and "--no-history" in first.output
    assert f"示例历史已写入 demo history written: {EVENTS} 件事件" in first.output
    times, written = reported_times(empty_database_url)
    now = datetime.now(UTC)
    assert written and len(times) == EVENTS
    assert all(now - timedelta(days=91) < at < now - timedelta(hours=1) for at in times), times
    assert min(times) < now - timedelta(days=30), "the past spans the months, not the last days"

    second = up_until_processes("up", "--data-dir", str(tmp_path))
    assert second.exit_code == STARTING, second.output
    assert "示例历史" not in second.output
    assert len(reported_times(empty_database_url)[0]) == EVENTS


def test_no_history_skips_it(
    up_until_processes: RunCli, empty_database_url: str, tmp_path: Path
) -> None:
    result = up_until_processes("up", "--data-dir", str(tmp_path), "--no-history")
    assert result.exit_code == STARTING, result.output
    assert "示例历史" not in result.output
    assert reported_times(empty_database_url) == ([], False)


def test_a_database_with_users_of_its_own_gets_no_history_and_is_told_why(
    up_until_processes: RunCli, empty_database_url: str, tmp_path: Path
) -> None:
    added = up_until_processes(
        "user", "add", "wang.li", "--role", "command_centre", input="a real password 2026\n"
    )
    assert added.exit_code == 0, added.output
    result = up_until_processes("up", "--data-dir", str(tmp_path))
    assert result.exit_code == STARTING, result.output
    assert "未写入示例历史" in result.output and "wang.li" in result.output
    assert reported_times(empty_database_url) == ([], False)


def test_outside_demo_mode_no_history_is_written(
    up_until_processes: RunCli,
    empty_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIPINGTAI_DEMO", "false")
    monkeypatch.setenv("SIPINGTAI_SECRET_KEY", "k8Jw2vQz9Lr4Xp7Tn3Yb6Hc1Fd5Gs0Ma")
    get_settings.cache_clear()
    result = up_until_processes("up", "--data-dir", str(tmp_path))
    assert result.exit_code == STARTING, result.output
    assert "示例历史" not in result.output
    assert reported_times(empty_database_url) == ([], False)
