"""Intake's group commit: reports posted together share a transaction, and each is answered
for itself; past capacity the API refuses at once with 503 and Retry-After."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, col, func, select

from dispatch.events.models import Event, Step
from service.intake import MAX_WAIT_S, IntakeCommitter, IntakeLoad
from service.shedding import LAG_LIMIT_S, LAG_TICK_S, MIN_LIMIT, InFlight, IntakeShedding, LoopLag
from tests.helpers import run_async
from tests.loop_fixtures import Loop
from tests.service.test_loop import report_body


class Gate:
    """Holds the committer's first batch until told, and records every batch's size."""

    def __init__(self, committer: IntakeCommitter) -> None:
        self.committer = committer
        self.sizes: list[int] = []
        self.opened = threading.Event()
        self.entered = threading.Event()

    def wait_queued(self, count: int, timeout_s: float = 20) -> None:
        """Wait until `count` reports are queued behind the held batch."""
        deadline = time.monotonic() + timeout_s
        while self.committer.load.queued - 1 < count:
            assert time.monotonic() < deadline, f"only {self.committer.load.queued} queued"
            time.sleep(0.01)


@contextmanager
def gated(loop: Loop, monkeypatch: pytest.MonkeyPatch, shedding: bool = False) -> Iterator[Gate]:
    """Hold the committer's first batch until the gate opens (always opened at the end).

    Without `shedding`, nothing refuses intake meanwhile: the held batch soon runs longer
    than a wait allowed, and a slow machine may not have posted the rest by then.
    """
    state = loop.client.app.state  # type: ignore[attr-defined]
    committer: IntakeCommitter = state.intake
    gate = Gate(committer)
    if not shedding:
        monkeypatch.setattr(committer.load, "retry_after", lambda now: None)
        monkeypatch.setattr(state, "loop_lag", None)
        monkeypatch.setattr(state, "in_flight", None)
    real = committer._store

    def store(batch: Sequence[Any]) -> list[Any]:
        if not gate.entered.is_set():
            gate.entered.set()
            gate.opened.wait(30)
        gate.sizes.append(len(batch))
        return real(batch)

    monkeypatch.setattr(committer, "_store", store)
    try:
        yield gate
    finally:
        gate.opened.set()


def post_all(
    loop: Loop, bodies: list[dict[str, Any]], headers: dict[str, str]
) -> tuple[Callable[[], list[httpx.Response]], ThreadPoolExecutor]:
    """Start posting every body at once; return how to collect the answers."""
    pool = ThreadPoolExecutor(max_workers=len(bodies))
    post = loop.client.post
    futures = [pool.submit(post, "/api/events", json=b, headers=headers) for b in bodies]
    return (lambda: [f.result(timeout=60) for f in futures]), pool


def events_with(loop: Loop, client_ids: list[str]) -> list[Event]:
    with Session(loop.engine) as session:
        return list(session.exec(select(Event).where(col(Event.client_id).in_(client_ids))).all())


def report_steps(loop: Loop, event_ids: list[int]) -> int:
    with Session(loop.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Step)
                .where(col(Step.event_id).in_(event_ids), Step.action == "report")
            ).one()
        )


def test_reports_posted_together_share_one_transaction_and_each_gets_its_own_event(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    bodies = [report_body() for _ in range(12)]
    with gated(loop, monkeypatch) as gate:
        first, pool = post_all(loop, bodies[:1], headers)
        assert gate.entered.wait(20)
        rest, pool2 = post_all(loop, bodies[1:], headers)
        gate.wait_queued(11)
        gate.opened.set()
        answers = first() + rest()
    pool.shutdown()
    pool2.shutdown()
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers]
    assert gate.sizes == [1, 11], "the eleven queued behind the first went in one batch"
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 12
    stored = events_with(loop, [b["client_id"] for b in bodies])
    assert sorted(e.id or 0 for e in stored) == sorted(ids)
    assert report_steps(loop, ids) == 12


def test_a_bad_report_in_a_batch_is_refused_alone(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    good = [report_body() for _ in range(3)]
    unknown = report_body(matter_code="X-404")
    outside = {**report_body(), "lon": 100.0, "lat": 20.0}
    repeat = dict(good[0])
    with gated(loop, monkeypatch) as gate:
        first, pool = post_all(loop, [report_body()], headers)
        assert gate.entered.wait(20)
        rest, pool2 = post_all(loop, [*good, unknown, outside, repeat], headers)
        gate.wait_queued(6)
        gate.opened.set()
        answers = rest()
        assert first()[0].status_code == 201
    pool.shutdown()
    pool2.shutdown()
    codes = [a.status_code for a in answers]
    assert gate.sizes == [1, 6]
    assert sorted([*codes[:3], codes[5]]) == [200, 201, 201, 201], codes
    assert codes[3] == 422 and answers[3].json()["detail"]["code"] == "unknown_matter"
    assert codes[4] == 422 and answers[4].json()["detail"]["code"] == "outside_jurisdiction"
    assert answers[5].json()["id"] == answers[0].json()["id"], "a repeat gets the same event"
    assert len(events_with(loop, [b["client_id"] for b in good])) == 3
    assert not events_with(loop, [unknown["client_id"], outside["client_id"]])


@pytest.mark.postgres
def test_a_batch_whose_commit_fails_fails_every_report_in_it_and_stores_none(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    bodies = [report_body() for _ in range(5)]
    with loop.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_reports() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '40001'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_reports AFTER INSERT ON step "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.action = 'report') "
                "EXECUTE FUNCTION refuse_reports()"
            )
        )
    try:
        with gated(loop, monkeypatch) as gate:
            first, pool = post_all(loop, bodies[:1], headers)
            assert gate.entered.wait(20)
            rest, pool2 = post_all(loop, bodies[1:], headers)
            gate.wait_queued(4)
            gate.opened.set()
            answers = first() + rest()
        pool.shutdown()
        pool2.shutdown()
    finally:
        with loop.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_reports ON step"))
            conn.execute(text("DROP FUNCTION refuse_reports()"))
    assert 4 in gate.sizes, gate.sizes
    assert [a.status_code for a in answers] == [409] * 5, [a.text for a in answers]
    assert not events_with(loop, [b["client_id"] for b in bodies]), "nothing was stored"


@pytest.mark.postgres
def test_a_row_the_database_refuses_fails_only_its_own_report(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    bodies = [report_body() for _ in range(4)]
    bad = report_body(description="数据库拒收的一行")
    with loop.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.description = '数据库拒收的一行' THEN "
                "RAISE EXCEPTION 'out of range' USING ERRCODE = '22003'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_row BEFORE INSERT ON event "
                "FOR EACH ROW EXECUTE FUNCTION refuse_row()"
            )
        )
    try:
        with gated(loop, monkeypatch) as gate:
            first, pool = post_all(loop, bodies[:1], headers)
            assert gate.entered.wait(20)
            rest, pool2 = post_all(loop, [*bodies[1:], bad], headers)
            gate.wait_queued(4)
            gate.opened.set()
            answers = first() + rest()
        pool.shutdown()
        pool2.shutdown()
    finally:
        with loop.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_row ON event"))
            conn.execute(text("DROP FUNCTION refuse_row()"))
    assert [a.status_code for a in answers[:4]] == [201] * 4, [a.text for a in answers]
    assert answers[4].status_code == 422, answers[4].text
    assert answers[4].json()["detail"]["code"] == "invalid_value"
    assert len(events_with(loop, [b["client_id"] for b in bodies])) == 4
    assert not events_with(loop, [bad["client_id"]])


def test_a_deactivated_users_report_is_refused_in_the_batch(loop: Loop) -> None:
    headers = loop.token("grid")
    with Session(loop.engine) as session:
        session.execute(text("UPDATE app_user SET active = false WHERE username = 'grid'"))
        session.commit()
    try:
        body = report_body()
        answer = loop.client.post("/api/events", json=body, headers=headers)
    finally:
        with Session(loop.engine) as session:
            session.execute(text("UPDATE app_user SET active = true WHERE username = 'grid'"))
            session.commit()
    assert answer.status_code == 401, answer.text
    assert not events_with(loop, [body["client_id"]])
    assert loop.client.post("/api/events", json=report_body(), headers=headers).status_code == 201


def test_past_capacity_intake_answers_503_with_retry_after_and_keeps_nothing(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    with gated(loop, monkeypatch, shedding=True) as gate:
        first, pool = post_all(loop, [report_body()], headers)
        assert gate.entered.wait(20)
        time.sleep(MAX_WAIT_S + 0.1)  # the batch in hand has now run longer than a wait allowed
        shed = report_body()
        refused = loop.client.post("/api/events", json=shed, headers=headers)
        gate.opened.set()
        assert first()[0].status_code == 201
    pool.shutdown()
    assert refused.status_code == 503, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    detail = refused.json()["detail"]
    assert detail["code"] == "overloaded" and "繁忙" in detail["message"]
    assert not events_with(loop, [shed["client_id"]])
    again = loop.client.post("/api/events", json=shed, headers=headers)
    assert again.status_code == 201, "the same report is taken once the queue is short"


def test_the_load_estimate_counts_the_queue_and_a_batch_that_runs_long() -> None:
    load = IntakeLoad(overhead_s=0.01, per_report_s=0.001, weight=0.5)
    for _ in range(100):
        load.arrived()
    assert load.wait_s(now=0.0) == pytest.approx(0.01 + 101 * 0.001)
    assert load.retry_after(now=0.0) is None
    for _ in range(900):
        load.arrived()
    assert load.retry_after(now=0.0) == 2, "1,001 reports at 1 ms each: just over 1 s, rounded up"
    load.started(256, now=0.0)
    load.finished(256, 0.01 + 256 * 0.003)  # a large batch: 3 ms a report, halfway there
    assert load.per_report_s == pytest.approx(0.002)
    assert load.overhead_s == pytest.approx(0.01), "a large batch says nothing of the fixed part"
    assert load.queued == 744
    assert load.retry_after(now=0.0) == 2  # 10 ms + 745 × 2 ms = 1.5 s
    quiet = IntakeLoad(overhead_s=0.01, per_report_s=0.002, weight=0.5)
    quiet.arrived()
    quiet.started(1, now=5.0)
    quiet.finished(1, 0.05)  # a lone report took 50 ms: the fixed part moves, not the per report
    assert quiet.overhead_s == pytest.approx(0.01 + 0.5 * (0.048 - 0.01))
    assert quiet.per_report_s == pytest.approx(0.002)


def test_a_batch_that_runs_long_sheds_whatever_the_averages_say() -> None:
    load = IntakeLoad(overhead_s=0.01, per_report_s=0.001)
    load.arrived()
    load.started(1, now=10.0)
    assert load.retry_after(now=10.2) is None
    assert load.retry_after(now=10.0 + MAX_WAIT_S + 2.0) == 3
    assert load.retry_after(now=1000.0) == 30, "capped"
    load.finished(1, 990.0)
    assert load.queued == 0 and load.busy_since is None


def test_a_burst_after_a_quiet_spell_is_judged_by_the_cost_per_report() -> None:
    load = IntakeLoad(overhead_s=0.01, per_report_s=0.0005)
    for _ in range(20):  # quiet: lone reports, each 15 ms of mostly fixed cost
        load.arrived()
        load.started(1, now=0.0)
        load.finished(1, 0.015)
    for _ in range(300):  # a burst: 300 at 0.5 ms each after the fixed part, about 0.17 s
        load.arrived()
    assert load.wait_s(now=0.0) < MAX_WAIT_S, load.wait_s(now=0.0)
    assert load.retry_after(now=0.0) is None


def test_a_loop_running_behind_sheds_intake_until_it_catches_up() -> None:
    lag = LoopLag()
    for _ in range(50):
        lag.observe(0.1)
    assert lag.retry_after() is None, "100 ms late is a busy loop, not a starved one"
    lag.observe(0.7)
    assert lag.retry_after() is None, "one late tick (a password hashed) is not starvation"
    for _ in range(50):
        lag.observe(0.4)
    assert lag.retry_after() == 1
    for _ in range(50):
        lag.observe(2.0)
    assert lag.retry_after() == 4
    for _ in range(30):  # on time again: the average falls tick by tick
        lag.observe(0.0)
    assert lag.retry_after() is None


def test_the_loop_watch_measures_a_blocked_loop(loop: Loop) -> None:
    state = loop.client.app.state  # type: ignore[attr-defined]
    watched: LoopLag = state.loop_lag
    assert watched.retry_after() is None
    portal = loop.client.portal
    assert portal is not None
    for _ in range(3):
        portal.call(_block_the_loop, 1.5)
    assert watched.lag_s > LAG_LIMIT_S, watched.lag_s
    assert watched.retry_after() is not None, "a loop persistently behind refuses intake"


async def _block_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # on purpose: the loop's own thread, blocked
    await asyncio.sleep(LAG_TICK_S)  # let the watch see it


def test_the_in_flight_limit_is_cut_by_slow_answers_and_regrown_by_quick_ones() -> None:
    flight = InFlight(limit=100)
    for _ in range(100):
        flight.began()
    assert not flight.has_room(now=0.0), "a hundred in hand fill a limit of a hundred"
    flight.answered(MAX_WAIT_S + 0.1, now=1.0)
    assert flight.limit == 75
    flight.answered(MAX_WAIT_S + 0.1, now=1.05)
    assert flight.limit == 75, "one cut per interval: the late answers of one crowd come together"
    flight.answered(MAX_WAIT_S + 0.1, now=1.2)
    assert flight.limit == pytest.approx(56.25)
    assert flight.has_room(now=1.2) is False, "97 in hand, more than the limit now"
    for i in range(20):  # quick answers while in use, below where it started: one each
        flight.answered(0.01, now=1.3 + i / 1000)
    assert flight.limit == pytest.approx(76.25)
    for _ in range(1000):
        flight.answered(MAX_WAIT_S * 10, now=10.0 + _)
        flight.began()
    assert flight.limit == MIN_LIMIT, "cut down to its floor, never to nothing"


def test_above_where_it_started_the_in_flight_limit_grows_slowly() -> None:
    flight = InFlight(limit=200)
    for _ in range(150):
        flight.began()
    for i in range(10):
        flight.answered(0.01, now=i / 100)
    assert 200 < flight.limit < 200 + 10 / 200 + 1e-9, "a two-hundredth a quick answer"


def test_a_quiet_server_keeps_its_in_flight_limit_where_it_is() -> None:
    flight = InFlight(limit=128)
    for i in range(1000):  # one report at a time, each quick: the limit is far from use
        flight.began()
        flight.answered(0.02, now=i / 10)
    assert flight.limit == 128 and flight.count == 0
    flight.began()
    flight.abandoned()  # a client gone before its answer is no longer in hand
    assert flight.count == 0 and flight.has_room(now=200.0)


def test_a_refused_phone_is_told_to_wait_refusals_per_answer() -> None:
    flight = InFlight(limit=2)
    flight.began()
    flight.began()
    for _ in range(6):
        assert not flight.has_room(now=5.0)
    flight.answered(0.01, now=5.1)
    flight.answered(0.01, now=5.2)
    assert flight.retry_after(now=5.3) == 3, "six refused and two answered in the last second"
    assert flight.retry_after(now=6.5) == 3, "the last window still counts"
    assert flight.retry_after(now=9.0) == 1, "quiet for two windows: the shortest wait"


def test_a_report_counts_as_in_hand_from_its_last_body_byte_to_its_answer() -> None:
    flight = InFlight()
    seen: list[int] = []
    state = SimpleNamespace(in_flight=flight)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/events",
        "app": SimpleNamespace(state=state),
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            seen.append(flight.count)
        seen.append(flight.count)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        seen.append(flight.count)
        await send({"type": "http.response.body", "body": b"{}"})

    chunks = [
        {"type": "http.request", "body": b"{", "more_body": True},  # a phone slow to upload
        {"type": "http.request", "body": b"}", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return chunks.pop(0)

    async def send(message: Any) -> None:
        pass

    run_async(IntakeShedding(app)(scope, receive, send))
    assert seen == [0, 1, 0], "uploading is not in hand; read and unanswered is"
    assert flight.count == 0


def test_a_full_in_flight_limit_refuses_at_once_and_keeps_nothing(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = loop.token("grid")
    state = loop.client.app.state  # type: ignore[attr-defined]
    committer: IntakeCommitter = state.intake
    # Only the in-flight limit judges here: the committer's own estimate says there is room.
    monkeypatch.setattr(committer.load, "retry_after", lambda now: None)
    monkeypatch.setattr(state, "in_flight", InFlight(limit=1))
    with gated(loop, monkeypatch, shedding=True) as gate:
        first, pool = post_all(loop, [report_body()], headers)
        assert gate.entered.wait(20)
        shed = report_body()
        began = time.perf_counter()
        refused = loop.client.post("/api/events", json=shed, headers=headers)
        took = time.perf_counter() - began
        gate.opened.set()
        assert first()[0].status_code == 201
    pool.shutdown()
    assert refused.status_code == 503, refused.text
    assert took < 5, "answered without waiting for the batch in hand"
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert refused.json()["detail"]["code"] == "overloaded"
    assert not events_with(loop, [shed["client_id"]])
    again = loop.client.post("/api/events", json=shed, headers=headers)
    assert again.status_code == 201, "the same report is taken once one is answered"
