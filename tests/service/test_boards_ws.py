"""Websocket boards on a real server: snapshot, deltas, reconnects, scopes, two processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from dispatch.core.settings import Settings
from dispatch.users.models import User, UserRole
from dispatch.users.service import DEMO_PASSWORD, create_user
from dispatch.users.tokens import issue_token
from tests.conftest import REPO
from tests.loop_fixtures import LiveServer, Loop, free_port, run_burst_worker
from tests.service.test_loop import report_body

XINSHI = "320999004"


@pytest.fixture
def server(loop: Loop) -> Iterator[LiveServer]:
    """Serve the loop's app over real HTTP and websockets."""
    with LiveServer(loop.settings) as live:
        yield live


def token(base_url: str, username: str) -> str:
    """Sign in as a demo user and return the bare token."""
    response = httpx.post(
        f"{base_url}/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def ws_url(base_url: str, path: str, **query: Any) -> str:
    """Return the websocket URL of a board path with its query."""
    params = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
    return f"{base_url.replace('http', 'ws', 1)}{path}?{params}"


def open_board(
    base_url: str, path: str, token: str | None = None, **query: Any
) -> ClientConnection:
    """Open a board as the pages do: the token offered as the subprotocol after `bearer`."""
    protocols = [Subprotocol("bearer")] + ([Subprotocol(token)] if token else [])
    return connect(ws_url(base_url, path, **query), subprotocols=protocols)


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """Receive one JSON message."""
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    assert "seq" in message and "type" in message, message
    return message


def deltas_until(ws: ClientConnection, done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Collect deltas until done(collected) is true."""
    collected: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(collected):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out; got {[(d['seq'], d['type']) for d in collected]}"
        message = receive(ws, timeout=remaining)
        assert message["type"] == "deltas", message["type"]
        assert message["seq"] == message["deltas"][-1]["seq"]
        collected.extend(message["deltas"])
    return collected


def post_report(base_url: str, grid_token: str) -> int:
    """Report an event from 新市镇 as the grid worker; return its id."""
    response = httpx.post(
        f"{base_url}/api/events",
        json=report_body(),
        headers={"Authorization": f"Bearer {grid_token}"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_board_sends_a_snapshot_then_the_deltas_of_each_change(
    loop: Loop, server: LiveServer
) -> None:
    centre, grid = token(server.url, "centre"), token(server.url, "grid")
    with open_board(server.url, "/ws/boards/county", token=centre) as ws:
        snapshot = receive(ws)
        assert snapshot["type"] == "snapshot" and snapshot["board"] == "county"
        assert isinstance(snapshot["events"], list) and snapshot["epoch"]
        event_id = post_report(server.url, grid)
        run_burst_worker(loop.redis_url)
        deltas = deltas_until(ws, lambda got: any(d["type"] == "routed" for d in got))
    mine = [d for d in deltas if d["id"] == event_id]
    assert [d["type"] for d in mine] == ["reported", "routed"]
    assert [d["seq"] for d in deltas] == list(
        range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(deltas))
    )
    reported, routed = mine
    # The new event's delta carries its card once; routing's only what changed on it.
    assert reported["p"] == 0 and reported["set"]["e"]["township_name"] == "新市镇"
    assert routed["p"] == reported["v"] and routed["set"]["e"]["status"] == "dispatched"
    assert "township_name" not in routed["set"]["e"]
    parts = [fields for group, fields in routed["set"].items() if group != "e"]
    assert {part["role"] for part in parts} >= {"lead"}


def test_a_reconnect_with_since_gets_every_delta_it_missed(loop: Loop, server: LiveServer) -> None:
    centre, grid = token(server.url, "centre"), token(server.url, "grid")
    with open_board(server.url, "/ws/boards/county", token=centre) as ws:
        snapshot = receive(ws)
        first = post_report(server.url, grid)
        seen = deltas_until(ws, lambda got: any(d["id"] == first for d in got))
    last_seen = seen[-1]["seq"]
    # While the client is away: two more reports, routing, and a department signing.
    missed_ids = [post_report(server.url, grid), post_report(server.url, grid)]
    run_burst_worker(loop.redis_url)
    detail = loop.client.get(f"/api/events/{missed_ids[0]}", headers=loop.token("centre")).json()
    lead = next(a for a in detail["assignments"] if a["role"] == "lead")
    signed = loop.client.post(f"/api/assignments/{lead['id']}/sign", headers=loop.token("zhifa"))
    assert signed.status_code == 200, signed.text
    board = open_board(
        server.url, "/ws/boards/county", token=centre, since=last_seen, epoch=snapshot["epoch"]
    )
    with board as ws:
        first_again = receive(ws)
        assert first_again["type"] == "deltas"  # not a snapshot: nothing was lost
        got = first_again["deltas"]
    assert [d["seq"] for d in got] == list(range(last_seen + 1, last_seen + 1 + len(got)))
    assert {d["id"] for d in got} >= set(missed_ids)
    assert {"reported", "routed", "signed"} <= {d["type"] for d in got}


def test_a_reconnect_that_missed_nothing_is_told_so(server: LiveServer) -> None:
    centre = token(server.url, "centre")
    with open_board(server.url, "/ws/boards/county", token=centre) as ws:
        snapshot = receive(ws)
    board = open_board(
        server.url,
        "/ws/boards/county",
        token=centre,
        since=snapshot["seq"],
        epoch=snapshot["epoch"],
    )
    with board as ws:
        assert receive(ws) == {"seq": snapshot["seq"], "type": "deltas", "deltas": []}


def test_a_reconnect_from_another_epoch_gets_a_fresh_snapshot(server: LiveServer) -> None:
    centre = token(server.url, "centre")
    board = open_board(
        server.url, "/ws/boards/county", token=centre, since=0, epoch="not-this-redis"
    )
    with board as ws:
        assert receive(ws)["type"] == "snapshot"


@pytest.mark.parametrize(
    ("user", "path", "code"),
    [
        (None, "/ws/boards/county", 4401),
        ("grid", "/ws/boards/county", 4403),
        ("grid", "/ws/boards/township/320999005", 4403),
        ("zhifa", "/ws/boards/county", 4403),
        ("township", "/ws/boards/department/1", 4403),
    ],
)
def test_a_board_outside_the_users_scope_is_closed_with_4403(
    server: LiveServer, user: str | None, path: str, code: int
) -> None:
    bearer = token(server.url, user) if user else None
    with (
        open_board(server.url, path, token=bearer) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_the_township_and_department_boards_show_their_own(loop: Loop, server: LiveServer) -> None:
    grid = token(server.url, "grid")
    township = token(server.url, "township")
    with open_board(server.url, f"/ws/boards/township/{XINSHI}", token=township) as ws:
        assert receive(ws)["type"] == "snapshot"
        event_id = post_report(server.url, grid)
        run_burst_worker(loop.redis_url)
        got = deltas_until(ws, lambda d: any(x["type"] == "routed" for x in d))
    routed = next(d for d in got if d["type"] == "routed")
    assert routed["id"] == event_id
    lead = next(part for group, part in routed["set"].items() if part.get("role") == "lead")
    department = lead["on_behalf_of_id"] or lead["department_id"]
    centre = token(server.url, "centre")
    with open_board(server.url, f"/ws/boards/department/{department}", token=centre) as ws:
        snapshot = receive(ws)
        assert event_id in {card["id"] for card in snapshot["events"]}
        assert lead["department_id"] in snapshot["department_ids"]


def test_an_event_page_gets_the_detail_then_its_new_steps(loop: Loop, server: LiveServer) -> None:
    grid = token(server.url, "grid")
    event_id = post_report(server.url, grid)
    with open_board(server.url, f"/ws/events/{event_id}", token=grid) as ws:
        snapshot = receive(ws)
        assert snapshot["board"] == "event" and snapshot["event"]["id"] == event_id
        assert [s["action"] for s in snapshot["event"]["steps"]] == ["report"]
        run_burst_worker(loop.redis_url)
        (routed,) = deltas_until(ws, lambda d: len(d) >= 1)
    assert routed["type"] == "routed"
    assert "route" in {s["action"] for s in routed["steps"]}


class ApiProcess:
    """`uvicorn` serving the app in a process of its own."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": settings.effective_database_url,
            "REDIS_URL": settings.redis_url or "",
            "SIPINGTAI_DATA_DIR": str(data_dir),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "service.app:create_app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                # It answers: 200, or 503 while no worker runs (this test needs none).
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, "the API process exited"
            assert time.monotonic() < deadline, "the API process did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the process."""
        self.process.terminate()
        self.process.wait(timeout=10)


def test_two_api_processes_on_one_redis_both_deliver(loop: Loop, tmp_path: Path) -> None:
    first, second = ApiProcess(loop.settings, tmp_path), ApiProcess(loop.settings, tmp_path)
    try:
        centre = token(first.url, "centre")
        grid = token(second.url, "grid")
        with (
            open_board(first.url, "/ws/boards/county", token=centre) as on_first,
            open_board(second.url, "/ws/boards/county", token=centre) as on_second,
        ):
            assert receive(on_first)["type"] == receive(on_second)["type"] == "snapshot"
            event_id = post_report(second.url, grid)  # the change happens on the second
            for ws in (on_first, on_second):
                got = deltas_until(ws, lambda d: any(x["id"] == event_id for x in d))
                assert got[-1]["type"] == "reported"
    finally:
        first.stop()
        second.stop()


# ---- Who may keep watching --------------------------------------------------------------------

CLOSED_WITHIN_S = 12.0  # RECHECK_S is 3 s; generous for two busy cores


def closed_code(ws: ClientConnection, within: float) -> tuple[int | None, float]:
    """Read until the server closes; return its close code and how long that took."""
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            remaining = within - (time.monotonic() - started)
            assert remaining > 0, f"still open after {within} s"
            ws.recv(timeout=remaining)
    code = closed.value.rcvd.code if closed.value.rcvd is not None else None
    return code, time.monotonic() - started


def new_centre_user(loop: Loop) -> tuple[str, int]:
    """Create a command-centre user of this test's own (to deactivate); return name and id."""
    name = f"ws-centre-{secrets.token_hex(4)}"
    with Session(loop.engine) as session:
        user = create_user(
            session, username=name, password=DEMO_PASSWORD, role=UserRole.COMMAND_CENTRE
        )
        session.commit()
        assert user.id is not None
        return name, user.id


def test_a_deactivated_users_open_board_is_closed_with_4401(loop: Loop, server: LiveServer) -> None:
    name, user_id = new_centre_user(loop)
    with open_board(server.url, "/ws/boards/county", token=token(server.url, name)) as ws:
        assert receive(ws)["type"] == "snapshot"
        with Session(loop.engine) as session:
            user = session.get(User, user_id)
            assert user is not None
            user.active = False
            session.add(user)
            session.commit()
        code, took = closed_code(ws, CLOSED_WITHIN_S)
    assert code == 4401, code
    print(f"closed {took:.1f} s after the deactivation")


def test_an_open_board_is_closed_with_4401_when_its_token_expires(
    loop: Loop, server: LiveServer
) -> None:
    with Session(loop.engine) as session:
        user = session.exec(select(User).where(User.username == "centre")).one()
        short = issue_token(user, loop.settings, ttl=timedelta(seconds=5))
    with open_board(server.url, "/ws/boards/county", token=short) as ws:
        assert receive(ws)["type"] == "snapshot"
        code, _ = closed_code(ws, 5 + CLOSED_WITHIN_S)
    assert code == 4401, code


def test_a_token_in_the_url_is_not_accepted(server: LiveServer) -> None:
    centre = token(server.url, "centre")
    with (
        connect(ws_url(server.url, "/ws/boards/county", token=centre)) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_no_token_reaches_the_access_log(loop: Loop, tmp_path: Path) -> None:
    """Run uvicorn as the Dockerfile does, access log on; open boards; grep the log."""
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": loop.settings.effective_database_url,
        "REDIS_URL": loop.redis_url,
        "SIPINGTAI_DATA_DIR": str(tmp_path),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "service.app:create_app",
                "--factory",
                "--port",
                str(port),
                "--access-log",
                "--log-level",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/config", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            centre = token(base, "centre")
            with open_board(base, "/ws/boards/county", token=centre) as ws:
                assert receive(ws)["type"] == "snapshot"
            # A careless client that still puts the token in URLs is redacted from the log too.
            with (
                connect(ws_url(base, "/ws/boards/county", token=centre)) as ws,
                pytest.raises(ConnectionClosed),
            ):
                ws.recv(timeout=10)
            httpx.get(
                f"{base}/api/auth/me?token={centre}", headers={"Authorization": f"Bearer {centre}"}
            )
        finally:
            process.terminate()
            process.wait(timeout=15)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "/ws/boards/county" in text and "/api/auth/me" in text, text  # the log is on
    signature = centre.rsplit(".", 1)[-1]
    assert centre not in text and signature not in text, text
    assert "token=[redacted]" in text
