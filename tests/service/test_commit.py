"""A request commits before it answers: a commit that fails is an error response, never a 200."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from dispatch import transaction as transaction_module
from dispatch.events.models import Assignment, Step
from service.app import create_app
from tests.loop_fixtures import Loop
from tests.service.test_loop import assignment, event, report


def _pending_lead(loop: Loop) -> tuple[int, int]:
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    assert lead["status"] == "pending"
    return event_id, int(lead["id"])


def _unchanged(engine: Engine, event_id: int, assignment_id: int, steps_before: int) -> None:
    with Session(engine) as session:
        part = session.get(Assignment, assignment_id)
        assert part is not None and part.status == "pending", "the failed sign left no trace"
        steps = session.exec(
            select(func.count()).select_from(Step).where(Step.event_id == event_id)
        ).one()
        assert steps == steps_before


def _step_count(engine: Engine, event_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count()).select_from(Step).where(Step.event_id == event_id)
            ).one()
        )


@contextmanager
def _failing_at_commit(engine: Engine, sqlstate: str) -> Iterator[None]:
    """Make PostgreSQL refuse, at COMMIT, any transaction that writes a sign step."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '{sqlstate}'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON step "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.action = 'sign') "
                "EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_at_commit ON step"))
            conn.execute(text("DROP FUNCTION refuse_at_commit()"))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [("23514", "a check constraint"), ("40001", "a serialization failure")],
)
def test_a_commit_refused_by_postgresql_answers_409(loop: Loop, sqlstate: str, kind: str) -> None:
    event_id, lead_id = _pending_lead(loop)
    before = _step_count(loop.engine, event_id)
    with _failing_at_commit(loop.engine, sqlstate):
        response = loop.client.post(f"/api/assignments/{lead_id}/sign", headers=loop.token("zhifa"))
    assert response.status_code == 409, f"{kind}: {response.status_code} {response.text}"
    assert "刷新后重试" in response.json()["detail"]["message"]
    _unchanged(loop.engine, event_id, lead_id, before)


def test_a_busy_database_at_commit_answers_503_with_retry_after(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id, lead_id = _pending_lead(loop)
    before = _step_count(loop.engine, event_id)
    headers = loop.token("zhifa")
    real_commit = Session.commit

    def busy(self: Session) -> None:
        # What SQLite raises when another writer holds the lock past the busy timeout.
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(Session, "commit", busy)
    try:
        response = loop.client.post(f"/api/assignments/{lead_id}/sign", headers=headers)
    finally:
        monkeypatch.setattr(Session, "commit", real_commit)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    _unchanged(loop.engine, event_id, lead_id, before)


def test_an_error_building_board_cards_answers_an_error_and_commits_nothing(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id, lead_id = _pending_lead(loop)
    before = _step_count(loop.engine, event_id)
    headers = loop.token("zhifa")

    def broken(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise RuntimeError("a card could not be built")

    monkeypatch.setattr(transaction_module, "board_messages", broken)
    with TestClient(create_app(loop.settings), raise_server_exceptions=False) as client:
        response = client.post(f"/api/assignments/{lead_id}/sign", headers=headers)
    assert response.status_code == 500
    _unchanged(loop.engine, event_id, lead_id, before)


def test_a_successful_action_is_committed_when_the_answer_arrives(loop: Loop) -> None:
    _, lead_id = _pending_lead(loop)
    response = loop.client.post(f"/api/assignments/{lead_id}/sign", headers=loop.token("zhifa"))
    assert response.status_code == 200
    with Session(loop.engine) as session:  # another connection sees it at once
        part = session.get(Assignment, lead_id)
        assert part is not None and part.status == "signed"
