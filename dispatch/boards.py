"""Board events: every committed change to an event reaches the boards that show it.

Domain code records each change as a step (`dispatch.events.add_step`), and each step notes
its event in the session. Just before a session with a publisher commits, the noted events
are turned into cards (the whole current state of each event) and queued; just after the
commit they are appended to the Redis Streams of the boards that show them; a rollback drops
them. So no board ever shows a change that was not committed, and no code path can forget to
publish one.

One stream per board (county, township, department) and per event. Entry ids are `N-0`
where N is the board's own counter (`<stream>:seq`), so clients see plain increasing
sequence numbers and can ask for what they missed since one. Streams are capped; a client
whose position fell off the cap gets a fresh snapshot instead. The websocket edge reads the
streams; nothing here knows about websockets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import redis
from sqlalchemy import event as sa_event
from sqlalchemy import or_
from sqlmodel import Session, col, select

from dispatch.lifecycle import OPEN
from dispatch.models import (
    Assignment,
    AssignmentStatus,
    Department,
    Event,
    EventStatus,
    JurisdictionRow,
    Matter,
    Platform,
    Step,
    UserRole,
    utcnow,
)
from dispatch.policy import CENTRE_ROLES, ROLE_LABELS, TOWNSHIP_ROLES, Actor
from dispatch.queue import KEY_PREFIX
from dispatch.schemas import StepPublic
from dispatch.workcalendar import CHINA_TZ

log = logging.getLogger(__name__)

# Enough history for a board that was away for a while; older readers get a fresh snapshot.
BOARD_MAXLEN = 10_000
EVENT_MAXLEN = 500
# An event's own stream outlives any page left open on it; the event board then resyncs.
EVENT_STREAM_TTL_S = 7 * 24 * 3600
EPOCH_KEY = f"{KEY_PREFIX}:board:epoch"
# A board snapshot holds every open event; past this many only the newest are sent.
SNAPSHOT_LIMIT = 5000
# Boards keep fed-back assignments and closed, unrated events this many days.
FOLLOW_UP_DAYS = 7
DESCRIPTION_CHARS = 300

_NOTED = "sipingtai.board.noted"
_OUTBOX = "sipingtai.board.outbox"
_PUBLISHER = "sipingtai.board.publisher"


class BoardKind(StrEnum):
    """The kinds of live board a client may join."""

    COUNTY = "county"
    TOWNSHIP = "township"
    DEPARTMENT = "department"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Board:
    """One board: its kind and, below the county, whose it is (a township code, an id)."""

    kind: BoardKind
    key: str = ""

    @property
    def stream(self) -> str:
        """Return the Redis stream key of the board."""
        if self.kind is BoardKind.COUNTY:
            return f"{KEY_PREFIX}:board:county"
        if self.kind is BoardKind.EVENT:
            return f"{KEY_PREFIX}:event:{self.key}"
        return f"{KEY_PREFIX}:board:{self.kind.value}:{self.key}"

    @property
    def maxlen(self) -> int:
        """Return how many entries the stream keeps."""
        return EVENT_MAXLEN if self.kind is BoardKind.EVENT else BOARD_MAXLEN


def county_stream() -> str:
    """Return the stream key of the county board."""
    return Board(BoardKind.COUNTY).stream


def township_stream(code: str) -> str:
    """Return the stream key of a township's board."""
    return Board(BoardKind.TOWNSHIP, code).stream


def department_stream(department_id: int) -> str:
    """Return the stream key of a department's inbox."""
    return Board(BoardKind.DEPARTMENT, str(department_id)).stream


def event_stream(event_id: int) -> str:
    """Return the stream key of one event's live timeline."""
    return Board(BoardKind.EVENT, str(event_id)).stream


# ---- Noting changes in the session, publishing them after commit ------------------------


def note_step(session: Session, event: Event, step: Step) -> None:
    """Remember that this transaction changed the event (called by add_step)."""
    if _PUBLISHER not in session.info:
        return  # nobody will publish: skip the bookkeeping (imports, CLI, plain tests)
    assert event.id is not None
    noted: dict[int, tuple[Event, list[Step]]] = session.info.setdefault(_NOTED, {})
    noted.setdefault(event.id, (event, []))[1].append(step)


def publish_after_commit(session: Session, connection: redis.Redis | None) -> None:
    """Have this session publish the changes it commits to the boards, through connection."""
    if connection is not None:
        session.info[_PUBLISHER] = connection


@sa_event.listens_for(Session, "before_commit")
def _cards_before_commit(session: Session) -> None:
    noted: dict[int, tuple[Event, list[Step]]] | None = session.info.pop(_NOTED, None)
    if not noted or _PUBLISHER not in session.info:
        return
    session.flush()  # steps get their ids
    messages = board_messages(session, list(noted.values()))
    session.info.setdefault(_OUTBOX, []).extend(messages)


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    outbox: list[BoardMessage] | None = session.info.pop(_OUTBOX, None)
    connection = session.info.get(_PUBLISHER)
    if outbox and connection is not None:
        publish_quietly(connection, outbox)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_NOTED, None)
    session.info.pop(_OUTBOX, None)


# ---- Cards: the whole current state of one event, as every board shows it ----------------

# Which delta type a transaction's steps amount to: the first found in this order wins, so
# "routed" beats the dispatch steps that come with it and "signed" the lead_sign after it.
_TYPE_OF_ACTION: dict[str, str] = {
    "need_triage": "needs_triage",
    "route": "routed",
    "triage_route": "routed",
    "rate_unsatisfied": "reopened",
    "verify_fail": "verify_failed",
    "verify_pass": "verified",
    "close": "closed",
    "rate_satisfied": "rated",
    "mark_invalid": "invalid",
    "merge": "merged",
    "redispatch": "redispatched",
    "refuse_return": "return_refused",
    "return": "returned",
    "all_fed_back": "fed_back",
    "feed_back": "fed_back",
    "lead_sign": "signed",
    "sign": "signed",
    "overdue": "overdue",
    "deadline_near": "deadline_near",
    "report": "reported",
    "handle_on_site": "reported",
}
_PRIORITY = {action: rank for rank, action in enumerate(_TYPE_OF_ACTION)}
# Steps that only intake writes: an event with nothing else in the transaction has no parts.
_INTAKE = frozenset({"report", "handle_on_site"})


def delta_type(actions: Iterable[str]) -> str:
    """Name what a transaction's steps amount to for a board ("changed" when nothing known)."""
    known = [a for a in actions if a in _PRIORITY]
    if not known:
        return "changed"
    return _TYPE_OF_ACTION[min(known, key=_PRIORITY.__getitem__)]


@dataclass(frozen=True, slots=True)
class BoardMessage:
    """One delta: the boards it goes to and its JSON payload (without its sequence number)."""

    streams: tuple[Board, ...]
    payload: str


class _Names:
    """Names of jurisdictions, departments, platforms and matters for a batch of cards."""

    def __init__(self, session: Session, events: Sequence[Event], assignments: list[Assignment]):
        codes = {c for e in events for c in (e.township_code, e.village_code, e.grid_code) if c}
        self.places = (
            dict(
                session.exec(
                    select(JurisdictionRow.code, JurisdictionRow.name).where(
                        col(JurisdictionRow.code).in_(sorted(codes))
                    )
                ).all()
            )
            if codes
            else {}
        )
        departments = {a.department_id for a in assignments} | {
            a.on_behalf_of_id for a in assignments if a.on_behalf_of_id is not None
        }
        self.departments: dict[int, str] = {}
        if departments:
            for dept_id, name in session.exec(
                select(Department.id, Department.name).where(
                    col(Department.id).in_(sorted(departments))
                )
            ).all():
                assert dept_id is not None
                self.departments[dept_id] = name
        platforms = {e.platform_code for e in events if e.platform_code}
        self.platforms = (
            dict(
                session.exec(
                    select(Platform.code, Platform.name).where(
                        col(Platform.code).in_(sorted(platforms))
                    )
                ).all()
            )
            if platforms
            else {}
        )
        keys = {(e.matter_list_id, e.matter_code) for e in events if e.matter_code}
        list_ids = sorted({k[0] for k in keys if k[0] is not None})
        self.matters: dict[tuple[int | None, str], str] = {}
        if list_ids:
            for list_id, code, name in session.exec(
                select(Matter.list_id, Matter.code, Matter.name).where(
                    col(Matter.list_id).in_(list_ids),
                    col(Matter.code).in_(sorted({k[1] for k in keys if k[1]})),
                )
            ).all():
                self.matters[(list_id, code)] = name


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _assignment_card(assignment: Assignment, names: _Names) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "event_id": assignment.event_id,
        "department_id": assignment.department_id,
        "department_name": names.departments.get(assignment.department_id, ""),
        "on_behalf_of_id": assignment.on_behalf_of_id,
        "on_behalf_of_name": names.departments.get(assignment.on_behalf_of_id or -1),
        "role": assignment.role,
        "round": assignment.round,
        "status": assignment.status,
        "duties": list(assignment.duties),
        "duties_text": assignment.duties_text,
        "sign_by": _iso(assignment.sign_by),
        "handle_by": _iso(assignment.handle_by),
        "signed_at": _iso(assignment.signed_at),
        "fed_back_at": _iso(assignment.fed_back_at),
        "feedback": assignment.feedback,
        "return_reason": assignment.return_reason,
        "return_clause": assignment.return_clause,
        "created_at": _iso(assignment.created_at),
        "sign_alert": assignment.sign_alert,
        "handle_alert": assignment.handle_alert,
    }


def _card(event: Event, assignments: list[Assignment], names: _Names) -> dict[str, Any]:
    description = event.description
    if len(description) > DESCRIPTION_CHARS:
        description = description[:DESCRIPTION_CHARS] + "…"
    return {
        "id": event.id,
        "status": event.status,
        "township_code": event.township_code,
        "township_name": names.places.get(event.township_code or ""),
        "village_code": event.village_code,
        "village_name": names.places.get(event.village_code or ""),
        "grid_code": event.grid_code,
        "grid_name": names.places.get(event.grid_code or ""),
        "platform_code": event.platform_code,
        "platform_name": names.platforms.get(event.platform_code or ""),
        "matter_code": event.matter_code,
        "matter_name": names.matters.get((event.matter_list_id, event.matter_code or "")),
        "description": description,
        "address": event.address,
        "urgent": event.urgent,
        "source": event.source,
        "lon": event.lon,
        "lat": event.lat,
        "received_at": _iso(event.received_at),
        "sign_by": _iso(event.sign_by),
        "handle_by": _iso(event.handle_by),
        "closed_at": _iso(event.closed_at),
        "rating": event.rating,
        "rework_count": event.rework_count,
        "updated_at": _iso(event.updated_at),
        "assignments": [_assignment_card(a, names) for a in assignments],
    }


def _assignments_by_event(session: Session, event_ids: list[int]) -> dict[int, list[Assignment]]:
    found: dict[int, list[Assignment]] = {i: [] for i in event_ids}
    if event_ids:
        for assignment in session.exec(
            select(Assignment)
            .where(col(Assignment.event_id).in_(event_ids))
            .order_by(col(Assignment.id))
        ):
            found[assignment.event_id].append(assignment)
    return found


def cards(
    session: Session, events: Sequence[Event], *, without_parts: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Return the cards of these events, with their assignments and the names boards show.

    Events in without_parts are known to have no assignment (just reported): intake is the
    hot path, so their cards skip the query.
    """
    ids = [e.id for e in events if e.id is not None and e.id not in without_parts]
    by_event = _assignments_by_event(session, ids)
    names = _Names(session, events, [a for parts in by_event.values() for a in parts])
    return [_card(e, by_event.get(e.id or -1, []), names) for e in events]


def step_json(step: Step) -> dict[str, Any]:
    """Return a step as the API shows it (StepPublic), as plain JSON data."""
    return StepPublic.model_validate(step.model_dump()).model_dump(mode="json")


def boards_of(card: dict[str, Any]) -> tuple[Board, ...]:
    """Return every board that shows this event: county, its township, its departments, its own."""
    found = [Board(BoardKind.COUNTY), Board(BoardKind.EVENT, str(card["id"]))]
    if card["township_code"]:
        found.append(Board(BoardKind.TOWNSHIP, card["township_code"]))
    departments: set[int] = set()
    for part in card["assignments"]:
        departments.add(part["department_id"])
        if part["on_behalf_of_id"]:
            departments.add(part["on_behalf_of_id"])
    found.extend(Board(BoardKind.DEPARTMENT, str(d)) for d in sorted(departments))
    return tuple(found)


def board_messages(
    session: Session, changed: list[tuple[Event, list[Step]]], *, at: datetime | None = None
) -> list[BoardMessage]:
    """Turn the events a transaction changed, with its steps, into one message per event."""
    moment = _iso(at or utcnow())
    messages = []
    just_reported = frozenset(
        e.id for e, steps in changed if e.id is not None and all(s.action in _INTAKE for s in steps)
    )
    built = cards(session, [e for e, _ in changed], without_parts=just_reported)
    for card, (_, steps) in zip(built, changed, strict=True):
        kind = delta_type(s.action for s in steps)
        # Boards show cards; only the event's own page shows the steps (half the bytes).
        boards = boards_of(card)
        own = tuple(b for b in boards if b.kind is BoardKind.EVENT)
        others = tuple(b for b in boards if b.kind is not BoardKind.EVENT)
        timeline = [step_json(s) for s in steps]
        messages.append(
            BoardMessage(
                own, _compact({"type": kind, "event": card, "steps": timeline, "at": moment})
            )
        )
        messages.append(
            BoardMessage(others, _compact({"type": kind, "event": card, "steps": [], "at": moment}))
        )
    return messages


def _compact(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


# ---- Redis: publishing and reading back --------------------------------------------------

# KEYS: stream, counter, stream, counter, ...; ARGV: payload, maxlen, ttl, payload, ...
_PUBLISH_SCRIPT = """
local seqs = {}
for i = 1, #KEYS, 2 do
  local j = (i - 1) / 2 * 3
  local n = redis.call('INCR', KEYS[i + 1])
  local ok = redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[j + 2], n .. '-0', 'd', ARGV[j + 1])
  if type(ok) == 'table' and ok.err then
    -- The stream is ahead of its counter (the counter was lost, or older entries used other
    -- ids): continue numbering after the stream's last entry.
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for k = 1, #info, 2 do
      if info[k] == 'last-generated-id' then
        n = tonumber(string.match(info[k + 1], '^(%d+)')) + 1
      end
    end
    redis.call('SET', KEYS[i + 1], n)
    redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[j + 2], n .. '-0', 'd', ARGV[j + 1])
  end
  local ttl = tonumber(ARGV[j + 3])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[i], ttl)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
  end
  seqs[#seqs + 1] = n
end
return seqs
"""


def seq_key(stream: str) -> str:
    """Return the key of a stream's sequence counter."""
    return f"{stream}:seq"


def publish(connection: redis.Redis, messages: Sequence[BoardMessage]) -> int:
    """Append each message to each of its boards' streams in one round trip; return how many."""
    keys: list[str] = []
    args: list[str | int] = []
    for message in messages:
        for board in message.streams:
            keys += [board.stream, seq_key(board.stream)]
            ttl = EVENT_STREAM_TTL_S if board.kind is BoardKind.EVENT else 0
            args += [message.payload, board.maxlen, ttl]
    if not keys:
        return 0
    connection.eval(_PUBLISH_SCRIPT, len(keys), *keys, *args)
    return len(keys) // 2


def publish_quietly(connection: redis.Redis, messages: Sequence[BoardMessage]) -> None:
    """Publish, logging instead of raising: a board can resync, a committed change must stand."""
    try:
        publish(connection, messages)
    except redis.RedisError as exc:
        log.warning("board update not published (%d messages): %s", len(messages), exc)


def with_seq(seq: int, payload: bytes | str) -> str:
    """Put the sequence number into a stored payload, as the first key of the JSON object."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    return f'{{"seq":{seq},{text[1:]}'


def entry_seq(entry_id: bytes | str) -> int:
    """Return the sequence number of a stream entry id (`N-0`)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


# ---- Snapshots -------------------------------------------------------------------------


def day_start(now: datetime) -> datetime:
    """Return midnight of today in China time, as an aware datetime."""
    local = now.astimezone(CHINA_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _events_for_board(
    session: Session, board: Board, department_ids: frozenset[int], now: datetime
) -> list[Event]:
    today = day_start(now)
    recent = now - timedelta(days=FOLLOW_UP_DAYS)
    query = select(Event)
    if board.kind is BoardKind.DEPARTMENT:
        mine = select(Assignment.event_id).where(
            col(Assignment.department_id).in_(sorted(department_ids)),
            or_(
                col(Assignment.status).in_(
                    (AssignmentStatus.PENDING, AssignmentStatus.SIGNED, AssignmentStatus.RETURNED)
                ),
                col(Assignment.fed_back_at) >= recent,
            ),
        )
        query = query.where(col(Event.id).in_(mine))
    else:
        query = query.where(
            or_(
                col(Event.status).in_([*(s.value for s in OPEN), EventStatus.VERIFIED.value]),
                # closed but not yet followed up (回访): the township still has to rate it
                (col(Event.status) == EventStatus.CLOSED) & (col(Event.closed_at) >= recent),
                col(Event.received_at) >= today,
                col(Event.closed_at) >= today,
            )
        )
        if board.kind is BoardKind.TOWNSHIP:
            query = query.where(Event.township_code == board.key)
    query = query.order_by(col(Event.received_at).desc(), col(Event.id).desc())
    return list(session.exec(query.limit(SNAPSHOT_LIMIT)).all())


def board_snapshot(
    session: Session, board: Board, *, department_ids: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Return the cards a board starts from: open, verified, unrated and today's; newest first."""
    return cards(session, _events_for_board(session, board, department_ids, utcnow()))


def department_board_ids(session: Session, department_id: int) -> frozenset[int]:
    """Return a department and the stationed units it answers for."""
    units = session.exec(select(Department.id).where(Department.parent_id == department_id))
    return frozenset({department_id, *(u for u in units if u is not None)})


def board_refusal(actor: Actor, board: Board) -> str | None:
    """Return why the user may not watch a county, township or department board, or None."""
    if actor.role in CENTRE_ROLES:
        return None
    if board.kind is BoardKind.TOWNSHIP and actor.role in TOWNSHIP_ROLES:
        if actor.township_code == board.key:
            return None
        return f"只能查看本乡镇的看板，不能查看乡镇「{board.key}」的看板"
    if board.kind is BoardKind.DEPARTMENT and actor.role is UserRole.DEPARTMENT_STAFF:
        if board.key.isdigit() and int(board.key) in actor.department_ids:
            return None
        return f"只能查看本部门（含派驻机构）的看板，不能查看部门 {board.key} 的看板"
    return f"{ROLE_LABELS[actor.role]}不能查看{_BOARD_LABELS[board.kind]}"


_BOARD_LABELS = {
    BoardKind.COUNTY: "县指挥中心看板",
    BoardKind.TOWNSHIP: "乡镇看板",
    BoardKind.DEPARTMENT: "部门看板",
    BoardKind.EVENT: "事件",
}
