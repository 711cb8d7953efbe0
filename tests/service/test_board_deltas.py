"""Compact deltas on the boards: a snapshot plus the deltas equals a fresh snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import redis
from sqlmodel import Session, select
from websockets.sync.client import ClientConnection

from dispatch.boards.streams import Board, BoardKind, seq_key
from dispatch.reference.models import Department
from tests.board_state import BoardState, without_nulls
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_boards_ws import XINSHI, open_board, receive, token
from tests.service.test_loop import act, assignment, event, report


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP and websockets."""
    with LiveServer(loop.settings) as live:
        yield live


def _until(ws: ClientConnection, board: Board, redis_url: str) -> list[dict[str, Any]]:
    """Collect the board's deltas up to the sequence number its stream has now."""
    last = int(redis.Redis.from_url(redis_url).get(seq_key(board.stream)) or 0)
    got: list[dict[str, Any]] = []
    while not got or got[-1]["seq"] < last:
        message = receive(ws)
        assert message["type"] == "deltas", message["type"]
        got.extend(message["deltas"])
    return got


def _fetcher(base: str, path: str, bearer: str) -> Any:
    def fetch(ids: list[int]) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{base}{path}/cards",
            params={"ids": ids},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert response.status_code == 200, response.text
        cards: list[dict[str, Any]] = response.json()["cards"]
        return cards

    return fetch


def _fresh(base: str, path: str, bearer: str) -> dict[int, dict[str, Any]]:
    with open_board(base, path, token=bearer) as ws:
        snapshot = receive(ws)
    return {card["id"]: card for card in snapshot["events"]}


def test_deltas_applied_to_a_snapshot_give_the_fresh_snapshots_cards(
    loop: Loop, server: LiveServer
) -> None:
    centre = token(server.url, "centre")
    with Session(loop.engine) as session:
        market = session.exec(select(Department).where(Department.name == "县市场监督管理局")).one()
    assert market.id is not None
    boards = {
        "/ws/boards/county": Board(BoardKind.COUNTY),
        f"/ws/boards/township/{XINSHI}": Board(BoardKind.TOWNSHIP, XINSHI),
        f"/ws/boards/department/{market.id}": Board(BoardKind.DEPARTMENT, str(market.id)),
    }
    before = report(loop)  # in every snapshot, then changed
    states = {path: BoardState() for path in boards}
    with ExitStack() as stack:
        sockets = {
            path: stack.enter_context(open_board(server.url, path, token=centre)) for path in boards
        }
        for path, ws in sockets.items():
            states[path].snapshot(receive(ws))
        # Changes of every kind: new events, parts signed, fed back, returned, re-dispatched.
        lead = assignment(event(loop, before), "lead")
        act(loop, "zhifa", f"assignments/{lead['id']}/sign")
        act(loop, "zhifa", f"assignments/{lead['id']}/feedback", {"note": "已劝离摊贩"})
        other = report(loop, matter_code="C-005", description="路边堆了一大堆建材和杂物")
        other_lead = assignment(event(loop, other), "lead")
        act(
            loop,
            "zhifa",
            f"assignments/{other_lead['id']}/return",
            {"reason": "堆放物为市场经营户货物", "clause_code": "B-009", "clause_note": "农贸市场"},
        )
        act(
            loop,
            "centre",
            f"assignments/{other_lead['id']}/redispatch",
            {"department_id": market.id, "reason": "经研判属市场监管"},
        )
        third = report(loop)
        for path, ws in sockets.items():
            deltas = _until(ws, boards[path], loop.redis_url)
            assert all("event" not in d and d["v"] > d["p"] for d in deltas)
            http_path = path.replace("/ws/boards", "/api/boards")
            states[path].apply(deltas, _fetcher(server.url, http_path, centre))
    for path, state in states.items():
        fresh = _fresh(server.url, path, centre)
        assert fresh, path
        assert set(fresh) <= set(state.cards), path
        for event_id, card in fresh.items():
            assert without_nulls(state.cards[event_id]) == without_nulls(card), (path, event_id)
    county = states["/ws/boards/county"]
    assert {before, other, third} <= set(county.cards) and county.fetched == []
    # The market's inbox first hears of the re-dispatched event in a delta: it fetches the card.
    assert other in states[f"/ws/boards/department/{market.id}"].fetched


def test_a_compact_delta_carries_only_what_changed(loop: Loop, server: LiveServer) -> None:
    centre = token(server.url, "centre")
    event_id = report(loop)
    lead = assignment(event(loop, event_id), "lead")
    with open_board(server.url, "/ws/boards/county", token=centre) as ws:
        receive(ws)
        act(loop, "zhifa", f"assignments/{lead['id']}/sign")
        (signed,) = _until(ws, Board(BoardKind.COUNTY), loop.redis_url)
    assert signed["type"] == "signed" and signed["id"] == event_id and signed["p"] > 0
    assert signed["set"]["e"].keys() == {"status", "updated_at"}
    assert signed["set"][str(lead["id"])].keys() == {"status", "signed_at"}
    assert len(json.dumps(signed, ensure_ascii=False).encode()) < 400


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("township", "/api/boards/county/cards", 403),
        ("zhifa", "/api/boards/township/320999004/cards", 403),
        ("township", "/api/boards/township/320999005/cards", 403),
        ("township", "/api/boards/department/1/cards", 403),
        (None, "/api/boards/county/cards", 401),
    ],
)
def test_cards_on_demand_keep_the_boards_scope(
    loop: Loop, user: str | None, path: str, status: int
) -> None:
    event_id = report(loop)
    headers = loop.token(user) if user else {}
    response = loop.client.get(path, params={"ids": [event_id]}, headers=headers)
    assert response.status_code == status, response.text


def test_cards_on_demand_answer_only_the_boards_own_events(loop: Loop) -> None:
    event_id = report(loop)
    township = loop.client.get(
        f"/api/boards/township/{XINSHI}/cards",
        params={"ids": [event_id, 999_999]},
        headers=loop.token("township"),
    )
    assert [c["id"] for c in township.json()["cards"]] == [event_id]
    assert township.json()["cards"][0]["assignments"]
    with Session(loop.engine) as session:
        unrelated = session.exec(select(Department).where(Department.name == "县水利局")).first()
    assert unrelated is not None
    assert unrelated.name not in {
        a["department_name"] for a in event(loop, event_id)["assignments"]
    }
    theirs = loop.client.get(
        f"/api/boards/department/{unrelated.id}/cards",
        params={"ids": [event_id]},
        headers=loop.token("centre"),
    )
    assert theirs.status_code == 200 and theirs.json()["cards"] == []
