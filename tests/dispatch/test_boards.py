"""Board messages: one card per changed event, published only after the commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from dispatch.boards.cards import DESCRIPTION_CHARS, Names, build_cards, delta_type
from dispatch.boards.snapshot import board_refusal, board_snapshot
from dispatch.boards.streams import (
    Board,
    BoardKind,
    county_stream,
    department_stream,
    event_stream,
    township_stream,
)
from dispatch.core.clock import CHINA_TZ
from dispatch.core.db import session_scope
from dispatch.core.queues import PENDING_KEY, offer_for_routing
from dispatch.core.redis import connect
from dispatch.events.came_back import CameBack, CameBackKind
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.jobs.scheduler import alert_deadlines
from dispatch.routing.router import Router
from dispatch.supervision.alerts import NONE, RED, YELLOW, alert_level
from dispatch.transaction import transaction
from dispatch.users.models import UserRole
from dispatch.users.policy import Actor
from tests.helpers import new_report, stream_entries
from tests.loop_fixtures import run_burst_worker

XINSHI = "320999004"


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["route", "dispatch", "dispatch"], "routed"),
        (["need_triage"], "needs_triage"),
        (["sign", "lead_sign"], "signed"),
        (["sign"], "signed"),
        (["feed_back", "all_fed_back"], "fed_back"),
        (["redispatch", "dispatch"], "redispatched"),
        (["return"], "returned"),
        (["refuse_return"], "return_refused"),
        (["verify_fail", "rework", "rework"], "verify_failed"),
        (["rate_unsatisfied", "rework"], "reopened"),
        (["report", "handle_on_site"], "reported"),
        (["overdue"], "overdue"),
        (["attach"], "changed"),
        ([], "changed"),
    ],
)
def test_a_transaction_amounts_to_one_delta_type(actions: list[str], expected: str) -> None:
    assert delta_type(actions) == expected


T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_card_is_sent_as_the_pages_read_it() -> None:
    event = Event(
        id=7, client_id="c7", status=EventStatus.DISPATCHED, source="grid", reported_at=T0,
        received_at=T0.replace(microsecond=250000), raw_lon=120.1, raw_lat=31.2, crs="gcj02",
        lon=120.0, lat=31.5, address=None, description="摊" * (DESCRIPTION_CHARS + 1),
        urgent=True, county_code="320999", township_code=XINSHI, village_code="320999004001",
        grid_code="320999004001003", matter_code="C-004", matter_list_id=1, platform_code="P",
        sign_by=None, handle_by=T0 + timedelta(days=3), updated_at=T0, rework_count=1,
    )  # fmt: skip
    lead = Assignment(
        id=70, event_id=7, department_id=3, role=AssignmentRole.LEAD,
        status=AssignmentStatus.SIGNED, on_behalf_of_id=4, duties=["清理占道"],
        sign_by=T0 + timedelta(hours=2), signed_at=T0, created_at=T0, sign_alert=1,
    )  # fmt: skip
    # A time set in China time in this transaction keeps its offset, as isoformat writes it.
    co = Assignment(
        id=71, event_id=7, department_id=9, role=AssignmentRole.CO, round=2,
        status=AssignmentStatus.FED_BACK,
        duties=[], duties_text="配合", fed_back_at=T0.astimezone(CHINA_TZ), feedback="已处理",
        created_at=T0, handle_alert=2,
    )  # fmt: skip
    names = Names(
        places={XINSHI: "新市镇", "320999004001": "新市村"},
        departments={3: "县综合行政执法局", 4: "县城市管理局"},
        platforms={"P": "综合执法平台"},
        matters={(1, "C-004"): "占道经营"},
    )

    back = {70: CameBack(kind=CameBackKind.VERIFY_FAILED, note="摊贩又回来了", at=T0)}
    (card,) = build_cards([event], {7: [lead, co]}, names, back)

    # Times are isoformat's "+00:00" (the API's JSON says "Z"), as PROTOCOL.md's pages expect.
    assert card == {
        "id": 7, "status": "dispatched", "source": "grid", "urgent": True,
        "description": "摊" * DESCRIPTION_CHARS + "…", "address": None, "lon": 120.0, "lat": 31.5,
        "township_code": XINSHI, "township_name": "新市镇",
        "village_code": "320999004001", "village_name": "新市村",
        "grid_code": "320999004001003", "grid_name": None,
        "platform_code": "P", "platform_name": "综合执法平台",
        "matter_code": "C-004", "matter_name": "占道经营",
        "received_at": "2026-11-30T09:00:00.250000+00:00", "sign_by": None,
        "handle_by": "2026-12-03T09:00:00+00:00", "closed_at": None, "rating": None,
        "rework_count": 1, "updated_at": "2026-11-30T09:00:00+00:00",
        "assignments": [
            {
                "id": 70, "event_id": 7, "department_id": 3, "department_name": "县综合行政执法局",
                "on_behalf_of_id": 4, "on_behalf_of_name": "县城市管理局", "role": "lead",
                "round": 1, "status": "signed", "duties": ["清理占道"], "duties_text": None,
                "sign_by": "2026-11-30T11:00:00+00:00", "handle_by": None,
                "signed_at": "2026-11-30T09:00:00+00:00", "fed_back_at": None, "feedback": None,
                "return_reason": None, "return_clause": None,
                "created_at": "2026-11-30T09:00:00+00:00", "sign_alert": 1, "handle_alert": 0,
                "came_back": {
                    "kind": "verify_failed", "note": "摊贩又回来了",
                    "at": "2026-11-30T09:00:00+00:00", "rating": None,
                },
            },
            {
                "id": 71, "event_id": 7, "department_id": 9, "department_name": "",
                "on_behalf_of_id": None, "on_behalf_of_name": None, "role": "co", "round": 2,
                "status": "fed_back", "duties": [], "duties_text": "配合", "sign_by": None,
                "handle_by": None, "signed_at": None, "fed_back_at": "2026-11-30T17:00:00+08:00",
                "feedback": "已处理", "return_reason": None, "return_clause": None,
                "created_at": "2026-11-30T09:00:00+00:00", "sign_alert": 0, "handle_alert": 2,
                "came_back": None,
            },
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("minutes_later", "level"),
    [(0, NONE), (41, NONE), (42, YELLOW), (59, YELLOW), (60, RED), (600, RED)],
)
def test_deadline_warnings_turn_yellow_at_70_percent_and_red_when_due(
    minutes_later: int, level: int
) -> None:
    due = T0 + timedelta(hours=1)
    assert alert_level(T0, due, T0 + timedelta(minutes=minutes_later)) == level


@pytest.mark.parametrize(
    ("role", "township", "departments", "board", "allowed"),
    [
        (UserRole.COMMAND_CENTRE, None, (), Board(BoardKind.COUNTY), True),
        (UserRole.ADMIN, None, (), Board(BoardKind.DEPARTMENT, "7"), True),
        (UserRole.GRID_WORKER, XINSHI, (), Board(BoardKind.COUNTY), False),
        (UserRole.GRID_WORKER, XINSHI, (), Board(BoardKind.TOWNSHIP, XINSHI), True),
        (UserRole.TOWNSHIP_OPERATOR, XINSHI, (), Board(BoardKind.TOWNSHIP, "320999005"), False),
        (UserRole.DEPARTMENT_STAFF, None, (3, 4), Board(BoardKind.DEPARTMENT, "4"), True),
        (UserRole.DEPARTMENT_STAFF, None, (3, 4), Board(BoardKind.DEPARTMENT, "5"), False),
        (UserRole.DEPARTMENT_STAFF, None, (3,), Board(BoardKind.TOWNSHIP, XINSHI), False),
        (UserRole.DEPARTMENT_STAFF, None, (3,), Board(BoardKind.COUNTY), False),
    ],
)
def test_who_may_watch_which_board(
    role: UserRole, township: str | None, departments: tuple[int, ...], board: Board, allowed: bool
) -> None:
    actor = Actor(
        id=1,
        role=role,
        township_code=township,
        department_id=departments[0] if departments else None,
        department_ids=frozenset(departments),
    )
    refusal = board_refusal(actor, board)
    assert (refusal is None) == allowed, refusal


@pytest.fixture
def env(worker_env: tuple[Engine, str]) -> tuple[Engine, str]:
    """The loop database and Redis, seen by this process and its workers."""
    return worker_env


def _report(engine: Engine, redis_url: str, *, publish: bool = True) -> int:
    with transaction(engine, connect(redis_url) if publish else None) as session:
        router = Router.load(session, near_distance_m=50, threshold=0.5)
        event = report_event(session, router, new_report(XINSHI)).event
        assert event.id is not None
        return event.id


def _deltas(redis_url: str, stream: str) -> list[dict[str, object]]:
    return [json.loads(f[b"d"]) for _, f in stream_entries(connect(redis_url), stream)]


def test_intake_publishes_a_reported_card_after_the_commit(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    event_id = _report(engine, redis_url)
    (delta,) = _deltas(redis_url, event_stream(event_id))
    assert delta["type"] == "reported"
    card = delta["event"]
    assert isinstance(card, dict)
    assert card["id"] == event_id and card["status"] == "reported"
    assert card["township_name"] == "新市镇" and card["grid_name"]
    assert len(_deltas(redis_url, county_stream())) == 1
    assert len(_deltas(redis_url, township_stream(XINSHI))) == 1


def test_a_rolled_back_change_reaches_no_board(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    with pytest.raises(RuntimeError), transaction(engine, connect(redis_url)) as session:
        router = Router.load(session, near_distance_m=50, threshold=0.5)
        report_event(session, router, new_report(XINSHI))
        raise RuntimeError("the request failed after intake")
    assert connect(redis_url).exists(county_stream()) == 0
    assert connect(redis_url).scard(PENDING_KEY) == 0, "nothing handed to routing either"


def test_routing_reaches_every_department_with_a_part(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    event_id = _report(engine, redis_url)
    offer_for_routing(connect(redis_url), [event_id])
    run_burst_worker(redis_url)
    with Session(engine) as session:
        parts = session.exec(select(Assignment).where(Assignment.event_id == event_id)).all()
    assert parts, "the demo matter C-001 has a lead at least"
    for part in parts:
        (routed,) = _deltas(redis_url, department_stream(part.department_id))
        assert routed["type"] == "routed"
    county = _deltas(redis_url, county_stream())
    assert [d["type"] for d in county] == ["reported", "routed"]
    assert connect(redis_url).get(f"{county_stream()}:seq") == b"2"


def test_a_deadline_warning_is_raised_once_and_reaches_the_boards(
    env: tuple[Engine, str],
) -> None:
    engine, redis_url = env
    event_id = _report(engine, redis_url, publish=False)
    offer_for_routing(connect(redis_url), [event_id])
    run_burst_worker(redis_url)
    with session_scope(engine) as session:
        part = session.exec(select(Assignment).where(Assignment.event_id == event_id)).first()
        assert part is not None and part.sign_by is not None
        part.created_at -= timedelta(hours=2)
        part.sign_by = part.created_at + timedelta(hours=1)  # an hour overdue now
        session.add(part)
    connection = connect(redis_url)
    assert alert_deadlines(engine, connection) >= 1
    assert alert_deadlines(engine, connection) == 0  # raised once only
    types = [d["type"] for d in _deltas(redis_url, event_stream(event_id))]
    assert types[-1] == "overdue"
    with Session(engine) as session:
        stored = session.get(Assignment, part.id)
        assert stored is not None and stored.sign_alert == RED


def test_a_snapshot_holds_open_events_of_the_township_only(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    here = _report(engine, redis_url, publish=False)
    with Session(engine) as session:
        cards = board_snapshot(session, Board(BoardKind.TOWNSHIP, XINSHI))
        elsewhere = board_snapshot(session, Board(BoardKind.TOWNSHIP, "320999005"))
    assert here in {c["id"] for c in cards}
    assert here not in {c["id"] for c in elsewhere}
    assert all(c["township_code"] == XINSHI for c in cards)


def test_publishing_recovers_when_a_stream_is_ahead_of_its_counter(redis_url: str) -> None:
    from dispatch.boards.streams import BoardMessage, publish, seq_key

    connection = connect(redis_url)
    stream = county_stream()
    connection.xadd(stream, {"d": "{}"}, id="1795945893414-0")  # an id from another scheme
    message = BoardMessage((Board(BoardKind.COUNTY),), '{"type":"changed"}')
    publish(connection, [message])
    publish(connection, [message])
    ids = [entry_id for entry_id, _ in stream_entries(connection, stream)]
    assert ids[-2:] == [b"1795945893415-0", b"1795945893416-0"]
    assert connection.get(seq_key(stream)) == b"1795945893416"


def _card_message(card: dict[str, object]) -> object:
    from dispatch.boards.cards import card_change
    from dispatch.boards.streams import BoardMessage

    head = f'{{"type":"changed","id":{card["id"]},"at":"now"'
    return BoardMessage((Board(BoardKind.COUNTY),), head, card_change(card))


def test_a_card_is_published_whole_once_then_only_what_changed(redis_url: str) -> None:
    from dispatch.boards.streams import card_key, publish

    connection = connect(redis_url)
    part = {"id": 7, "event_id": 3, "status": "pending", "feedback": None, "duties": []}
    card = {"id": 3, "status": "dispatched", "closed_at": None, "assignments": [part]}
    signed = {**part, "status": "signed", "feedback": "已劝离"}
    reopened = {**part, "status": "pending", "feedback": None}
    for state in (
        card,
        card,
        {**card, "assignments": [signed]},
        {**card, "assignments": [reopened, {**part, "id": 8}]},
    ):
        publish(connection, [_card_message(state)])  # type: ignore[list-item]
    first, same, changed, back = _deltas(redis_url, county_stream())
    # Whole, without the nulls it never had; then nothing; then the part's two fields.
    assert first["p"] == 0 and first["set"] == {
        "e": {"status": "dispatched", "parts": [7]},
        "7": {"status": "pending", "duties": []},
    }
    assert same["p"] == first["v"] and same["set"] == {}
    assert changed["p"] == same["v"] and changed["set"] == {
        "7": {"status": "signed", "feedback": "已劝离"}
    }
    # A field back to null is sent as null; a new part whole.
    assert back["set"] == {
        "e": {"parts": [7, 8]},
        "7": {"status": "pending", "feedback": None},
        "8": {"status": "pending", "duties": []},
    }
    assert connection.hget(card_key(3), '7|"feedback"') is None
    connection.delete(card_key(3))  # expired: the next change goes whole again
    publish(connection, [_card_message(card)])  # type: ignore[list-item]
    assert _deltas(redis_url, county_stream())[-1]["p"] == 0
