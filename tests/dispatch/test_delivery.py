"""Delivery of assignments to departments' own systems: a real receiver, Redis and RQ worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.db import session_scope
from dispatch.core.errors import InvalidInput, NotFound
from dispatch.core.queues import DELIVERY_QUEUE, offer_for_routing
from dispatch.core.redis import connect
from dispatch.delivery.models import DeliveryStatus, WebhookDelivery
from dispatch.delivery.webhooks import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    Outcome,
    as_utc,
    assignment_payload,
    clear_webhook,
    deliver,
    delivery_job_id,
    enqueue_deliveries,
    post_signed,
    retry_due_deliveries,
    set_webhook,
)
from dispatch.events.intake import report_event
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.reference.models import Department, DepartmentKind
from dispatch.routing.router import Router
from tests.helpers import demo_grid_point, new_report
from tests.loop_fixtures import free_port, run_burst_worker

XINSHI = "320999004"
SECRET = "s3cret-for-the-zhifa-system-0123456789"


# ---- A real HTTP receiver --------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body as JSON."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and fails or stalls when told to."""

    requests: list[Received] = field(default_factory=list)
    failures: int = 0
    fail_status: int = 500
    stalls: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Return the URL departments post to."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next count requests with an error status."""
        self.failures, self.fail_status = count, status

    def stall_next(self, count: int) -> None:
        """Hold the next count requests without answering until the test ends."""
        self.stalls = count

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        """Record one request and answer it as told."""
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self.lock:
            self.requests.append(Received(handler.path, dict(handler.headers.items()), body))
            stall = self.stalls > 0
            self.stalls -= int(stall)
            fail = self.failures > 0
            self.failures -= int(fail)
        if stall:
            self.release.wait(timeout=10)
        status = self.fail_status if fail else 200
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", "/elsewhere")
        reply = b"receiver says no" if fail else b"ok"
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Serve a recording receiver in a thread for one test."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.answer(self)

        def do_GET(self) -> None:
            receiver.answer(self)

        def log_message(self, *args: object) -> None:
            return None

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.server.daemon_threads = True
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()


# ---- The committed demo county, Redis, and helpers -------------------------------------


@pytest.fixture
def env(worker_env: tuple[Engine, str]) -> Iterator[tuple[Engine, str]]:
    """The loop database and Redis; leave no webhook or pending delivery behind."""
    engine, _ = worker_env
    yield worker_env
    with session_scope(engine) as session:
        for statement in (
            "UPDATE department SET webhook_url = NULL, webhook_secret = NULL",
            "UPDATE webhook_delivery SET status = 'cancelled', next_attempt_at = NULL "
            "WHERE status IN ('pending', 'sending', 'retrying')",
            # Earlier tests' assignments must not look like lost hand-offs to later ones.
            "UPDATE assignment SET status = 'cancelled' WHERE status = 'pending'",
        ):
            session.connection().execute(text(statement))


_routers: dict[str, Router] = {}


def router_for(session: Session) -> Router:
    """Return a router over the loop database, built once."""
    key = str(session.get_bind().engine.url)
    if key not in _routers:
        _routers[key] = Router.load(session, near_distance_m=50, threshold=0.5)
    return _routers[key]


def lead_department(engine: Engine) -> int:
    """Return the department that leads a C-001 report from 新市镇 (a stationed unit)."""
    with session_scope(engine) as session:
        lon, lat = demo_grid_point(XINSHI)
        lead = router_for(session).route(session, lon=lon, lat=lat, matter_code="C-001")
        assert lead.decision.lead is not None
        return lead.decision.lead.department_id


def webhook(engine: Engine, department_id: int, url: str, secret: str = SECRET) -> None:
    """Give a department a webhook, committed."""
    with session_scope(engine) as session:
        set_webhook(session, str(department_id), url, secret)


def routed_event(engine: Engine, redis_url: str) -> int:
    """Report an event as the API would, route it with a burst worker; return its id."""
    with session_scope(engine) as session:
        event = report_event(session, router_for(session), new_report(XINSHI)).event
        assert event.id is not None
        event_id = event.id
    offer_for_routing(connect(redis_url), [event_id])
    run_burst_worker(redis_url)
    return event_id


def assignments(engine: Engine, event_id: int) -> list[Assignment]:
    """Return an event's assignments."""
    with Session(engine) as session:
        return list(session.exec(select(Assignment).where(Assignment.event_id == event_id)))


def lead_of(engine: Engine, event_id: int) -> int:
    """Return the id of an event's lead assignment."""
    (lead_id,) = [a.id for a in assignments(engine, event_id) if a.role == "lead"]
    assert lead_id is not None
    return lead_id


def deliveries(engine: Engine, event_id: int) -> dict[int, WebhookDelivery]:
    """Return the delivery rows of an event's assignments, by assignment id."""
    with Session(engine) as session:
        rows = session.exec(
            select(WebhookDelivery)
            .join(Assignment, col(Assignment.id) == col(WebhookDelivery.assignment_id))
            .where(Assignment.event_id == event_id)
        ).all()
    found = {d.assignment_id: d for d in rows}
    assert len(found) == len(rows), "one delivery row per assignment"
    return found


def make_due(engine: Engine, assignment_id: int) -> None:
    """Move an assignment's next attempt into the past, as if the wait were over."""
    with session_scope(engine) as session:
        row = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.assignment_id == assignment_id)
        ).one()
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)


def seconds_until(moment: datetime | None) -> float:
    """Return how far ahead of now a stored time is."""
    assert moment is not None
    return (as_utc(moment) - utcnow()).total_seconds()


# ---- End to end with a real worker -----------------------------------------------------


def test_a_routed_assignment_is_delivered_once_with_a_valid_signature(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    department_id = lead_department(engine)
    webhook(engine, department_id, receiver.url)

    event_id = routed_event(engine, redis_url)

    parts = assignments(engine, event_id)
    (lead,) = [a for a in parts if a.role == "lead"]
    assert lead.department_id == department_id and len(parts) >= 2
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Sipingtai-Signature"], expected)
    assert abs(int(request.headers["X-Sipingtai-Timestamp"]) - time.time()) < 60
    body = request.json()
    assert (body["assignment"]["id"], body["assignment"]["role"]) == (lead.id, "lead")
    assert body["assignment"]["sign_by"] and body["assignment"]["handle_by"]
    assert body["department"]["id"] == department_id
    assert body["department"]["on_behalf_of"]["name"] == "县综合行政执法局"
    event = body["event"]
    assert event["id"] == event_id and event["matter"]["code"] == "C-001"
    assert event["location"]["township"] == {"code": XINSHI, "name": "新市镇"}
    assert any("新市镇" in reason for reason in body["routing"]["reasons"])

    rows = deliveries(engine, event_id)
    assert lead.id is not None
    assert set(rows) == {lead.id}, "departments without a webhook get no delivery row"
    row = rows[lead.id]
    assert row.status == DeliveryStatus.DELIVERED and row.attempts == 1
    assert row.last_status_code == 200 and row.delivered_at is not None
    assert request.headers["X-Sipingtai-Delivery"] == str(row.id)
    assert (body["delivery"]["id"], body["delivery"]["attempt"]) == (row.id, 1)


def test_a_failing_receiver_is_retried_on_schedule_until_delivered(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    webhook(engine, lead_department(engine), receiver.url)
    receiver.fail_next(2, status=500)

    event_id = routed_event(engine, redis_url)
    lead = lead_of(engine, event_id)
    row = deliveries(engine, event_id)[lead]
    assert row.status == DeliveryStatus.RETRYING and row.attempts == 1
    assert row.last_status_code == 500
    assert row.last_error == "HTTP 500: receiver says no"
    assert 5 < seconds_until(row.next_attempt_at) <= 10

    connection = connect(redis_url)
    assert retry_due_deliveries(engine, connection) == 0, "not due for ten seconds"
    make_due(engine, lead)
    assert retry_due_deliveries(engine, connection) == 1
    run_burst_worker(redis_url)
    row = deliveries(engine, event_id)[lead]
    assert row.status == DeliveryStatus.RETRYING and row.attempts == 2
    assert 25 < seconds_until(row.next_attempt_at) <= 30

    make_due(engine, lead)
    assert retry_due_deliveries(engine, connection) == 1
    run_burst_worker(redis_url)
    row = deliveries(engine, event_id)[lead]
    assert row.status == DeliveryStatus.DELIVERED and row.attempts == 3
    assert row.last_error is None and row.next_attempt_at is None
    assert len(receiver.requests) == 3
    assert {r.headers["X-Sipingtai-Delivery"] for r in receiver.requests} == {str(row.id)}
    assert retry_due_deliveries(engine, connection) == 0


def test_running_the_job_twice_posts_once(env: tuple[Engine, str], receiver: Receiver) -> None:
    engine, redis_url = env
    webhook(engine, lead_department(engine), receiver.url)
    event_id = routed_event(engine, redis_url)
    lead = lead_of(engine, event_id)
    assert len(receiver.requests) == 1

    assert enqueue_deliveries(connect(redis_url), [lead]) == 1
    run_burst_worker(redis_url)
    assert Job.fetch(delivery_job_id(lead), connection=connect(redis_url)).return_value() == (
        Outcome.ALREADY_DELIVERED
    )
    assert deliver(engine, lead) is Outcome.ALREADY_DELIVERED
    assert len(receiver.requests) == 1
    assert deliveries(engine, event_id)[lead].attempts == 1


def test_a_delivery_already_waiting_is_not_queued_again(env: tuple[Engine, str]) -> None:
    _, redis_url = env
    connection = connect(redis_url)
    assert enqueue_deliveries(connection, [101, 102]) == 2
    assert enqueue_deliveries(connection, [102, 103]) == 1
    queue = Queue(DELIVERY_QUEUE, connection=connection)
    assert sorted(queue.job_ids) == ["deliver-101", "deliver-102", "deliver-103"]


def test_a_department_without_a_webhook_gets_no_job_and_no_row(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    event_id = routed_event(engine, redis_url)
    parts = assignments(engine, event_id)
    assert len(parts) >= 2
    connection = connect(redis_url)
    jobs = Job.fetch_many([delivery_job_id(p.id or 0) for p in parts], connection=connection)
    assert jobs == [None] * len(parts)  # the boards carry them; no job is spent on nothing
    assert deliveries(engine, event_id) == {}


def test_an_unreachable_receiver_reads_connection_refused(env: tuple[Engine, str]) -> None:
    engine, redis_url = env
    webhook(engine, lead_department(engine), f"http://127.0.0.1:{free_port()}/hook")
    event_id = routed_event(engine, redis_url)
    row = deliveries(engine, event_id)[lead_of(engine, event_id)]
    assert row.status == DeliveryStatus.RETRYING and row.attempts == 1
    assert row.last_error == "connection refused" and row.last_status_code is None


# ---- The job's rules, run directly -----------------------------------------------------


def test_a_receiver_that_does_not_answer_reads_timeout(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    event_id = routed_event(engine, redis_url)
    lead = lead_of(engine, event_id)
    webhook(engine, lead_department(engine), receiver.url)
    receiver.stall_next(1)
    assert deliver(engine, lead, timeout=0.5) is Outcome.RETRY_SCHEDULED
    row = deliveries(engine, event_id)[lead]
    assert row.last_error == "timeout after 0.5 s" and row.last_status_code is None


def test_after_the_last_retry_the_delivery_is_failed_and_kept(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    event_id = routed_event(engine, redis_url)
    lead = lead_of(engine, event_id)
    webhook(engine, lead_department(engine), receiver.url)
    receiver.fail_next(100, status=503)

    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert deliver(engine, lead) is Outcome.RETRY_SCHEDULED
        assert deliver(engine, lead) is Outcome.NOT_DUE, "a rerun before the wait posts nothing"
        waits.append(seconds_until(deliveries(engine, event_id)[lead].next_attempt_at))
        assert len(receiver.requests) == attempt
        make_due(engine, lead)
    assert [round(w / 10) * 10 for w in waits] == [d.total_seconds() for d in RETRY_DELAYS]
    assert deliver(engine, lead) is Outcome.FAILED

    row = deliveries(engine, event_id)[lead]
    assert row.status == DeliveryStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert row.last_status_code == 503 and row.next_attempt_at is None
    assert retry_due_deliveries(engine, connect(redis_url)) == 0
    assert deliver(engine, lead) is Outcome.CLOSED
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_removing_the_webhook_stops_the_retries(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    department_id = lead_department(engine)
    webhook(engine, department_id, receiver.url)
    receiver.fail_next(1)
    event_id = routed_event(engine, redis_url)
    lead = lead_of(engine, event_id)
    with session_scope(engine) as session:
        clear_webhook(session, str(department_id))
    make_due(engine, lead)
    assert retry_due_deliveries(engine, connect(redis_url)) == 1
    run_burst_worker(redis_url)
    row = deliveries(engine, event_id)[lead]
    assert row.status == DeliveryStatus.CANCELLED and "webhook removed" in (row.last_error or "")
    assert retry_due_deliveries(engine, connect(redis_url)) == 0
    assert len(receiver.requests) == 1


def test_a_lost_hand_off_is_delivered_by_the_scheduler(
    env: tuple[Engine, str], receiver: Receiver
) -> None:
    engine, redis_url = env
    stale_event, event_id = routed_event(engine, redis_url), routed_event(engine, redis_url)
    lead, stale = lead_of(engine, event_id), lead_of(engine, stale_event)
    # Configured after routing: as if the hand-off after the commit had been lost.
    webhook(engine, lead_department(engine), receiver.url)
    connection = connect(redis_url)
    assert retry_due_deliveries(engine, connection) == 0, "fresh ones are left to the hand-off"
    with session_scope(engine) as session:
        for assignment_id, age in ((lead, timedelta(minutes=2)), (stale, timedelta(days=2))):
            row = session.get(Assignment, assignment_id)
            assert row is not None
            row.created_at = utcnow() - age
            session.add(row)
    assert retry_due_deliveries(engine, connection) == 1
    run_burst_worker(redis_url)
    assert deliveries(engine, event_id)[lead].status == DeliveryStatus.DELIVERED
    assert deliveries(engine, stale_event) == {}, "older than the look-back: left alone"
    assert [r.json()["assignment"]["id"] for r in receiver.requests] == [lead]


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.fail_next(1, status=302)
    result = post_signed(receiver.url, b"{}", {"Content-Type": "application/json"}, 5)
    assert (result.status_code, result.error) == (302, "HTTP 302: receiver says no")
    assert not result.ok
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_only_http_urls_are_posted_to() -> None:
    result = post_signed("file:///etc/passwd", b"{}", {}, 5)
    assert result.status_code is None and (result.error or "").startswith("unsupported URL")


def test_the_payload_names_the_assignment_the_department_and_the_event() -> None:
    at = datetime(2026, 11, 30, 9, 0, 0, 500000, tzinfo=UTC)
    routing = {
        "township": {"code": XINSHI, "name": "新市镇"},
        "village": {"code": "320999004001", "name": "新市村"},
        "matter": {"code": "C-004", "name": "占道经营", "list_version": 3},
        "reasons": ["定位: 新市镇 / 新市村"],
    }
    event = Event(
        id=5, client_id="c5", status=EventStatus.DISPATCHED, source="grid", reported_at=at,
        raw_lon=120.1, raw_lat=31.2, crs="gcj02", lon=120.0, lat=31.5, address="新市街 1 号",
        description="门口有流动摊贩", urgent=False, township_code=XINSHI,
        village_code=None, matter_code="C-004", routing=routing,
    )  # fmt: skip
    part = Assignment(
        id=50, event_id=5, department_id=3, role=AssignmentRole.LEAD,
        status=AssignmentStatus.PENDING, duties=["清理"],
        sign_by=at + timedelta(hours=2), handle_by=None, created_at=at, on_behalf_of_id=4,
    )  # fmt: skip
    unit = Department(id=3, name="新市中队", short_name=None, kind=DepartmentKind.STATIONED_UNIT)
    parent = Department(
        id=4, name="县综合行政执法局", short_name="执法局", kind=DepartmentKind.COUNTY_DEPARTMENT
    )

    assert assignment_payload(part, unit, parent, event) == {
        "type": "assignment.dispatched",
        "assignment": {
            "id": 50, "role": "lead", "round": 1, "status": "pending", "duties": ["清理"],
            "duties_text": None, "sign_by": "2026-11-30T11:00:00.500000+00:00",
            "handle_by": None, "created_at": "2026-11-30T09:00:00.500000+00:00",
        },
        "department": {
            "id": 3, "name": "新市中队", "short_name": None, "kind": "stationed_unit",
            "on_behalf_of": {"id": 4, "name": "县综合行政执法局"},
        },
        "event": {
            "id": 5, "description": "门口有流动摊贩", "urgent": False,
            "reported_at": "2026-11-30T09:00:00.500000+00:00",
            "location": {
                "lon": 120.0, "lat": 31.5, "crs": "wgs84", "address": "新市街 1 号",
                "county": None, "township": {"code": XINSHI, "name": "新市镇"},
                "village": {"code": "320999004001", "name": "新市村"}, "grid": None,
            },
            "matter": {"code": "C-004", "name": "占道经营", "list_version": 3},
        },
        "routing": {"reasons": ["定位: 新市镇 / 新市村"]},
    }  # fmt: skip


# ---- Configuring a webhook -------------------------------------------------------------


def test_set_webhook_checks_the_url_and_the_secret(demo_session: Session) -> None:
    name = "县综合行政执法局"
    with pytest.raises(InvalidInput) as bad_url:
        set_webhook(demo_session, name, "ftp://example.org/hook")
    assert bad_url.value.field == "url"
    with pytest.raises(InvalidInput) as short:
        set_webhook(demo_session, name, "https://zhifa.example.org/hook", "short")
    assert short.value.field == "secret"
    with pytest.raises(NotFound):
        set_webhook(demo_session, "不存在的局", "https://example.org/hook")

    department, made = set_webhook(demo_session, name, "https://zhifa.example.org/hook")
    assert made is not None and len(made) >= 32 and department.webhook_secret == made
    again, kept = set_webhook(demo_session, name, "https://zhifa.example.org/v2")
    assert kept is None and again.webhook_secret == made
    assert again.webhook_url == "https://zhifa.example.org/v2"
    cleared = clear_webhook(demo_session, name)
    assert (cleared.webhook_url, cleared.webhook_secret) == (None, None)
