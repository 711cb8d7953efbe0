"""Delivery of new assignments to departments' own systems by signed HTTP POST (webhooks).

After a commit that created assignments, `enqueue_deliveries` queues one job per
assignment (`deliver-{id}`). The job re-reads its rows and posts once; a failed attempt
is recorded on the assignment's `webhook_delivery` row with the reason and the time of
the next attempt. The database row is the truth: the scheduler's `retry_due_deliveries`
re-queues whatever is due, so retries survive worker and Redis restarts. Delivery is at
least once: a worker dying between the POST and recording it posts again after its lease,
so receivers should treat a repeated `X-Sipingtai-Delivery` id as one delivery.

The body is signed with the department's secret: the receiver computes
HMAC-SHA256(secret, raw body) and compares it with `X-Sipingtai-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import Engine, exists
from sqlmodel import Session, SQLModel, col, func, or_, select

from dispatch.core.clock import as_utc, utcnow
from dispatch.core.db import session_scope
from dispatch.core.errors import InvalidInput, NotFound
from dispatch.core.queues import DELIVERY_QUEUE
from dispatch.delivery.models import DeliveryStatus, WebhookDelivery
from dispatch.events.models import Assignment, AssignmentStatus, Event
from dispatch.events.schemas import AssignmentBase, EventBase, WireTime
from dispatch.reference.models import Department
from dispatch.reference.schemas import DepartmentBase, DepartmentRef

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S = 5.0
# Waits after the 1st, 2nd, … failed attempt; one more failure after the last one gives up.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# While an attempt is in flight its row is leased; a worker dying mid-post frees it after this.
SENDING_LEASE = timedelta(seconds=60)
JOB_TIMEOUT_S = 30
# An assignment with a webhook but no delivery row this long after creation lost its hand-off.
HANDOFF_GRACE = timedelta(minutes=1)
HANDOFF_LOOKBACK = timedelta(hours=24)
MIN_SECRET_LENGTH = 16
MAX_ERROR_CHARS = 300
USER_AGENT = "Sipingtai-Webhook/1"
JOB_FUNCTION = "dispatch.jobs.delivery.deliver_assignment"
_WAITING_JOB = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)


class Outcome(StrEnum):
    """What one run of the delivery job did."""

    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    NO_WEBHOOK = "no_webhook"
    ALREADY_DELIVERED = "already_delivered"
    NOT_DUE = "not_due"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MISSING = "missing"


# ---- Hand-off to the workers -------------------------------------------------------------


def delivery_job_id(assignment_id: int) -> str:
    """Return the RQ job id of an assignment's delivery."""
    return f"deliver-{assignment_id}"


def with_webhooks(session: Session, assignment_ids: Iterable[int]) -> list[int]:
    """Return the assignments whose department has a webhook: the only ones to deliver."""
    ids = sorted({int(i) for i in assignment_ids})
    if not ids:
        return []
    query = (
        select(Assignment.id)
        .join(Department, col(Department.id) == col(Assignment.department_id))
        .where(col(Assignment.id).in_(ids), col(Department.webhook_url).is_not(None))
    )
    return [i for i in session.exec(query) if i is not None]


def enqueue_deliveries(connection: redis.Redis, assignment_ids: Iterable[int]) -> int:
    """Queue one delivery job per committed assignment, unless one is waiting; return how many."""
    ids = sorted({int(i) for i in assignment_ids})
    if not ids:
        return 0
    queue = Queue(DELIVERY_QUEUE, connection=connection)
    previous = Job.fetch_many([delivery_job_id(i) for i in ids], connection=connection)
    waiting = {
        job.id
        for job in previous
        if job is not None and job.get_status(refresh=False) in _WAITING_JOB
    }
    fresh = [i for i in ids if delivery_job_id(i) not in waiting]
    if not fresh:
        return 0
    pipe = connection.pipeline()
    for job in previous:
        if job is not None and job.id not in waiting:
            queue.failed_job_registry.remove(job.id, pipeline=pipe)
    queue.enqueue_many(
        [
            Queue.prepare_data(
                JOB_FUNCTION,
                args=(i,),
                job_id=delivery_job_id(i),
                timeout=JOB_TIMEOUT_S,
                result_ttl=600,
                failure_ttl=24 * 3600,
            )
            for i in fresh
        ],
        pipeline=pipe,
    )
    pipe.execute()
    return len(fresh)


def enqueue_deliveries_quietly(
    connection: redis.Redis | None, assignment_ids: Iterable[int]
) -> bool:
    """Queue deliveries, logging instead of raising when Redis is unavailable."""
    if connection is None:
        return False
    try:
        enqueue_deliveries(connection, assignment_ids)
    except redis.RedisError as exc:
        log.warning("delivery hand-off deferred to the scheduler: %s", exc)
        return False
    return True


def retry_due_deliveries(engine: Engine, connection: redis.Redis, *, limit: int = 1000) -> int:
    """Queue every delivery whose next attempt is due, and lost hand-offs; return how many."""
    now = utcnow()
    with session_scope(engine) as session:
        due = session.exec(
            select(WebhookDelivery.assignment_id)
            .where(
                col(WebhookDelivery.status).in_(OPEN_STATUSES),
                or_(
                    col(WebhookDelivery.next_attempt_at).is_(None),
                    col(WebhookDelivery.next_attempt_at) <= now,
                ),
            )
            .order_by(col(WebhookDelivery.id))
            .limit(limit)
        ).all()
        lost = session.exec(
            select(Assignment.id)
            .join(Department, col(Department.id) == col(Assignment.department_id))
            .where(
                col(Department.webhook_url).is_not(None),
                col(Department.webhook_url) != "",
                Assignment.status == AssignmentStatus.PENDING,
                col(Assignment.created_at) >= now - HANDOFF_LOOKBACK,
                col(Assignment.created_at) <= now - HANDOFF_GRACE,
                ~exists().where(col(WebhookDelivery.assignment_id) == col(Assignment.id)),
            )
            .order_by(col(Assignment.id))
            .limit(limit)
        ).all()
    ids = {*due, *(i for i in lost if i is not None)}
    queued = enqueue_deliveries(connection, ids)
    if queued:
        log.info("re-queued %d deliveries", queued)
    return queued


# ---- The job's work ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    """One attempt taken by this run: what to post where."""

    delivery_id: int
    attempt: int
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PostResult:
    """The answer to one POST: a status code, or why there was none."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """Tell whether the receiver accepted the delivery (any 2xx)."""
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver(engine: Engine, assignment_id: int, *, timeout: float | None = None) -> Outcome:
    """Post a new assignment to its department's webhook once; reruns are harmless.

    Every assignment also belongs on its department's board; boards are not built yet,
    so only the webhook is delivered here.
    """
    with session_scope(engine) as session:
        claim = _claim(session, assignment_id, utcnow())
    if isinstance(claim, Outcome):
        return claim
    result = post_signed(claim.url, claim.body, claim.headers, timeout or DELIVERY_TIMEOUT_S)
    with session_scope(engine) as session:
        return _record(session, claim, result, utcnow())


def _claim(session: Session, assignment_id: int, now: datetime) -> _Claim | Outcome:
    """Lease the next attempt of an assignment's delivery, or say why there is none."""
    assignment = session.exec(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    ).first()
    if assignment is None:
        return Outcome.MISSING
    department = session.get(Department, assignment.department_id)
    assert department is not None and department.id is not None
    delivery = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.assignment_id == assignment_id)
        .order_by(col(WebhookDelivery.id))
    ).first()
    if delivery is not None and delivery.status == DeliveryStatus.DELIVERED:
        return Outcome.ALREADY_DELIVERED
    if delivery is not None and delivery.status not in OPEN_STATUSES:
        return Outcome.CLOSED
    if not department.webhook_url:
        return _cancel(session, delivery, "已取消 webhook removed") or Outcome.NO_WEBHOOK
    if assignment.status == AssignmentStatus.CANCELLED:
        return _cancel(session, delivery, "已取消 assignment cancelled") or Outcome.CANCELLED
    due_at = delivery.next_attempt_at if delivery is not None else None
    if due_at is not None and as_utc(due_at) > now:
        return Outcome.NOT_DUE
    if delivery is None:
        delivery = WebhookDelivery(assignment_id=assignment_id, url=department.webhook_url)
    delivery.url = department.webhook_url
    delivery.attempts += 1
    delivery.status = DeliveryStatus.SENDING
    delivery.next_attempt_at = now + SENDING_LEASE
    session.add(delivery)
    session.flush()
    assert delivery.id is not None
    event = session.get(Event, assignment.event_id)
    assert event is not None
    parent = None
    if assignment.on_behalf_of_id is not None:
        parent = session.get(Department, assignment.on_behalf_of_id)
    timestamp = int(now.timestamp())
    payload = assignment_payload(assignment, department, parent, event)
    payload["delivery"] = {"id": delivery.id, "attempt": delivery.attempts, "timestamp": timestamp}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Sipingtai-Delivery": str(delivery.id),
        "X-Sipingtai-Timestamp": str(timestamp),
    }
    if department.webhook_secret:
        headers["X-Sipingtai-Signature"] = signature(department.webhook_secret, body)
    return _Claim(delivery.id, delivery.attempts, department.webhook_url, body, headers)


def _cancel(session: Session, delivery: WebhookDelivery | None, reason: str) -> Outcome | None:
    """Stop retrying an open delivery whose reason to exist went away."""
    if delivery is None:
        return None
    delivery.status = DeliveryStatus.CANCELLED
    delivery.next_attempt_at = None
    delivery.last_error = reason
    session.add(delivery)
    return Outcome.CANCELLED


def _record(session: Session, claim: _Claim, result: PostResult, now: datetime) -> Outcome:
    """Write down how an attempt went and when the next one is due."""
    delivery = session.exec(
        select(WebhookDelivery).where(WebhookDelivery.id == claim.delivery_id).with_for_update()
    ).one()
    if delivery.status == DeliveryStatus.DELIVERED:
        return Outcome.ALREADY_DELIVERED
    delivery.last_status_code = result.status_code
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = None
        session.add(delivery)
        return Outcome.DELIVERED
    if delivery.attempts != claim.attempt or delivery.status != DeliveryStatus.SENDING:
        return Outcome.NOT_DUE  # a later attempt took over after our lease ran out
    delivery.last_error = result.error
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        outcome = Outcome.FAILED
    else:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1]
        outcome = Outcome.RETRY_SCHEDULED
    session.add(delivery)
    log.info("delivery %s attempt %d: %s", delivery.id, delivery.attempts, result.error)
    return outcome


# ---- The payload: the assignment and the event in the shapes of their families ----------


class DispatchedAssignment(AssignmentBase):
    """The assignment a department's system is told of: what every shape of one shows."""

    created_at: WireTime
    sign_by: WireTime | None
    handle_by: WireTime | None


class DispatchedDepartment(DepartmentBase):
    """The department the assignment is for, and the one a stationed unit answers for."""

    on_behalf_of: DepartmentRef | None


class Place(SQLModel):
    """A jurisdiction as the routing decision named it."""

    code: str | None
    name: str | None


class Location(SQLModel):
    """Where the event is: WGS84 (whatever the phone sent), the address and the jurisdictions."""

    lon: float
    lat: float
    crs: Literal["wgs84"] = "wgs84"
    address: str | None
    county: Place | None
    township: Place | None
    village: Place | None
    grid: Place | None


class MatterRef(SQLModel):
    """The matter the event was routed as, and the version of the list it comes from."""

    code: str | None
    name: str | None
    list_version: int | None


class DispatchedEvent(EventBase):
    """The event of a dispatched assignment: what every shape of one shows, where and what."""

    reported_at: WireTime
    location: Location
    matter: MatterRef


class RoutingReasons(SQLModel):
    """Why the event went where it went, in Chinese."""

    reasons: list[str]


class AssignmentDispatchedPayload(SQLModel):
    """What a department's system is told about a new assignment, before `delivery` is added."""

    type: Literal["assignment.dispatched"] = "assignment.dispatched"
    assignment: DispatchedAssignment
    department: DispatchedDepartment
    event: DispatchedEvent
    routing: RoutingReasons


def assignment_payload(
    assignment: Assignment, department: Department, parent: Department | None, event: Event
) -> dict[str, Any]:
    """Return what a department's system is told about a new assignment (without `delivery`)."""
    routing: Mapping[str, Any] = event.routing or {}
    matter = routing.get("matter") or {}

    def place(level: str, code: str | None) -> Place | None:
        found = routing.get(level) or {}
        if code is None and not found:
            return None
        return Place(code=code or found.get("code"), name=found.get("name"))

    location = Location(
        lon=event.lon,
        lat=event.lat,
        address=event.address,
        county=place("county", event.county_code),
        township=place("township", event.township_code),
        village=place("village", event.village_code),
        grid=place("grid", event.grid_code),
    )
    payload = AssignmentDispatchedPayload(
        assignment=DispatchedAssignment.model_validate(assignment),
        department=DispatchedDepartment.model_validate(department, update={"on_behalf_of": parent}),
        event=DispatchedEvent.model_validate(
            event,
            update={
                "location": location,
                "matter": MatterRef(
                    code=event.matter_code,
                    name=matter.get("name"),
                    list_version=matter.get("list_version"),
                ),
            },
        ),
        routing=RoutingReasons(reasons=list(routing.get("reasons") or [])),
    )
    return payload.model_dump(mode="json")


def signature(secret: str, body: bytes) -> str:
    """Return the X-Sipingtai-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat a redirect as an answer: a POST must not silently turn into a GET elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_signed(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> PostResult:
    """POST the body and say how it went, in words an operator can act on."""
    if urlsplit(url).scheme not in ("http", "https"):
        return PostResult(None, f"unsupported URL (only http and https): {url[:100]}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            return PostResult(response.status, None)
    except urllib.error.HTTPError as exc:
        try:
            return PostResult(exc.code, _http_error(exc))
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        reason = exc.reason
        cause = reason if isinstance(reason, BaseException) else None
        return PostResult(None, _describe(cause, timeout) if cause else str(reason))
    except (OSError, http.client.HTTPException) as exc:
        return PostResult(None, _describe(exc, timeout))


def _http_error(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(MAX_ERROR_CHARS).decode("utf-8", errors="replace").strip()
    except (OSError, http.client.HTTPException):
        text = ""
    text = " ".join(text.split())
    return f"HTTP {exc.code}: {text}"[:MAX_ERROR_CHARS] if text else f"HTTP {exc.code}"


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the receiver"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed by the receiver without an answer"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


# ---- Configuring a department's webhook ------------------------------------------------


def find_department(session: Session, text: str) -> Department:
    """Return the department named (full name, unique short name) or numbered by text."""
    text = text.strip()
    if text.isdigit() and (found := session.get(Department, int(text))) is not None:
        return found
    by_name = session.exec(select(Department).where(Department.name == text)).first()
    if by_name is not None:
        return by_name
    by_short = session.exec(select(Department).where(Department.short_name == text)).all()
    if len(by_short) == 1:
        return by_short[0]
    if by_short:
        raise InvalidInput(f"部门简称「{text}」有重名，请用全称", field="department")
    raise NotFound(f"部门「{text}」不在部门名录中", field="department")


def set_webhook(
    session: Session, department_text: str, url: str, secret: str | None = None
) -> tuple[Department, str | None]:
    """Point a department's webhook at url; return it and the new secret if one was made.

    Without a secret the existing one is kept, or a random one is made when there is none.
    """
    department = find_department(session, department_text)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"推送地址须以 http:// 或 https:// 开头：「{url}」", field="url", code="invalid_url"
        )
    if len(url) > 1000:
        raise InvalidInput("推送地址过长（最多 1000 个字符）", field="url", code="too_long")
    made: str | None = None
    if secret is not None:
        secret = secret.strip()
        if not MIN_SECRET_LENGTH <= len(secret) <= 200:
            raise InvalidInput(
                f"签名密钥须为 {MIN_SECRET_LENGTH}–200 个字符",
                field="secret",
                code="invalid_secret",
            )
        department.webhook_secret = secret
    elif not department.webhook_secret:
        made = secrets.token_urlsafe(32)
        department.webhook_secret = made
    department.webhook_url = url
    session.add(department)
    session.flush()
    return department, made


def clear_webhook(session: Session, department_text: str) -> Department:
    """Stop delivering a department's assignments to its own system."""
    department = find_department(session, department_text)
    department.webhook_url = None
    department.webhook_secret = None
    session.add(department)
    session.flush()
    return department


# ---- Reading back --------------------------------------------------------------------------


class DeliveryPublic(SQLModel):
    """One assignment's delivery to its department's system, with why the last attempt failed."""

    id: int
    assignment_id: int
    event_id: int
    department_id: int
    department_name: str
    role: str
    url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveriesPublic(SQLModel):
    """One page of deliveries."""

    data: list[DeliveryPublic]
    count: int
    offset: int
    limit: int


def list_deliveries(
    session: Session,
    *,
    status: DeliveryStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> DeliveriesPublic:
    """Return one page of deliveries, newest first, optionally of one status."""
    query = (
        select(WebhookDelivery, Assignment, Department.name)
        .join(Assignment, col(Assignment.id) == col(WebhookDelivery.assignment_id))
        .join(Department, col(Department.id) == col(Assignment.department_id))
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(WebhookDelivery.id).desc()).offset(offset).limit(limit)
    ).all()
    data = [
        DeliveryPublic.model_validate(
            {
                **delivery.model_dump(),
                "event_id": assignment.event_id,
                "department_id": assignment.department_id,
                "department_name": name,
                "role": assignment.role,
            }
        )
        for delivery, assignment, name in rows
    ]
    return DeliveriesPublic(data=data, count=int(total), offset=offset, limit=limit)
