"""A realistic past for the demo county (`sipingtai demo history`), written by the real loop.

Every step is taken by the domain function a person's click would call (intake, routing as the
worker does it, sign, return, feed back, verify, close, rate, 督办, 延期, 乡呼县应, disputes
and their rulings), each at a simulated moment (`core.clock.simulated_now`, and `now=`), so
every invariant the loop keeps holds and every step is recorded as it would have been.

The simulation is a queue of timed actions over the whole county: a report schedules its
routing; after each action the event's parts are looked at again and each live one gets its
next action (sign or return, feed back, …) at a time drawn from the shares below. The county
rules' automatic notices are issued every two simulated hours (08:00–20:00), as the scheduler
would. Actions falling after the end of the history are not taken: those parts stay open,
some overdue. One transaction per simulated day. A database already holding a history is
refused (its events' client ids carry HISTORY_MARK): a second history over the same months
would run the county rules' scans across the first one's parts at times before their steps.
So is a database that is not only the demo's (another county, users of its own) unless asked
for: the past is invented, and would sit among real events. Its steps are put on the demo
users' names, or on history users' who never sign in, never on anyone else's.
"""

from __future__ import annotations

import heapq
import json
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine
from sqlmodel import Session, col, select

from dispatch.core.clock import CHINA_TZ, as_utc, simulated_now
from dispatch.core.errors import Conflict, DomainError
from dispatch.core.settings import get_settings
from dispatch.demo import demo_file
from dispatch.demo.reports import LABELLED_REPORTS
from dispatch.demo.seed import DEMO_COUNTY_CODE
from dispatch.disputes.models import Dispute, DisputeStatus, ListChangeKind
from dispatch.disputes.opening import open_dispute_of
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.events.intake import report_event
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Escalation,
    Event,
    EventStatus,
    ExtensionRequest,
    NoticeLevel,
)
from dispatch.events.schemas import EventCreate, Urgency
from dispatch.loop import assignments as parts_api
from dispatch.loop import escalation as escalations
from dispatch.loop import verification
from dispatch.loop.dispatching import route_events
from dispatch.loop.rulings import rule
from dispatch.reference.calendar import WorkCalendar
from dispatch.reference.jurisdictions import county_codes
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.lists.versions import list_in_force, load_rules
from dispatch.reference.models import Department, DepartmentKind, JurisdictionRow
from dispatch.routing.cache import ReferenceCache
from dispatch.routing.router import Router
from dispatch.supervision.extensions import decide_extension, request_extension
from dispatch.supervision.notices import issue_notice, reply_notice
from dispatch.supervision.rules import issue_rule_notices
from dispatch.transaction import transaction
from dispatch.users.models import User, UserRole
from dispatch.users.policy import Actor
from dispatch.users.scopes import actor_for
from dispatch.users.service import DEMO_USERS, check_scope, hash_password

# ---- The shares: what a county's half year looks like ------------------------------------
RETURNED = 0.08  # events whose lead part is returned as "not ours" (退回) at least once
DISPUTED = 0.05  # events whose second lead returns it too, opening a dispute (争议)
EXTENDED = 0.06  # events whose lead asks for more working days (延期)
EXTENSION_APPROVED = 0.75
SUPERVISED = 0.10  # events the centre presses by hand (督办); the county rules add their own
FAILED_VERIFICATION = 0.07  # events that fail the township's on-site check once (重办)
ESCALATED = 0.03  # events whose township calls the county in on its own part (乡呼县应)
RATED = 0.70  # closed events rated at the follow-up call (回访)
RATINGS = {5: 0.58, 4: 0.28, 3: 0.09, 2: 0.03, 1: 0.02}
LATE = 0.08  # parts signed after sign_by; parts fed back after handle_by (~15% late in one)
URGENT = 0.08
REDISPATCHED = 0.65  # of plain returns, the share the centre re-dispatches (else refused)
RULED_WITH_CHANGE = 0.5  # of rulings against the list's lead, those proposing a list change
NOTICE_REPLIED = 0.6  # of notices, those the department acknowledges before feeding back

# Client ids of a history's events start with these 64 bits ("SPNGHIST"), so one is found.
HISTORY_MARK = 0x5350_4E47_4849_5354
HISTORY_PREFIX = str(uuid.UUID(int=HISTORY_MARK << 64))[:18]
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
TICK = 2 * HOUR  # how often the county rules are applied (the scheduler's round, coarsened)

Progress = Callable[[int, int], None]
DEMO_USERNAMES = frozenset(username for username, *_ in DEMO_USERS)
HISTORY_USER_PREFIX = "history."  # the history's own actors (inactive, never sign in)


@dataclass
class HistoryReport:
    """What a history holds: its span, what happened how often, and how fast it was written."""

    seed: int
    started: datetime
    ended: datetime
    events: int = 0
    assignments: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        """Return events written per second of wall time."""
        return self.events / self.seconds if self.seconds else 0.0


_COUNT_LABELS = {
    "routed_dispatched": "派单",
    "routed_needs_triage": "待研判",
    "signed": "签收",
    "signed_late": "超时签收",
    "returned": "退回",
    "redispatched": "改派",
    "return_refused": "不予退回",
    "disputes_ruled": "争议裁定",
    "list_change_requested": "清单调整申请",
    "fed_back": "反馈",
    "fed_back_late": "超时反馈",
    "extension_requested": "申请延期",
    "extension_approved": "批准延期",
    "extension_refused": "不予延期",
    "extension_lapsed": "延期申请失效",
    "notice_replied": "督办回复",
    "escalated": "乡呼",
    "escalation_answered": "县应",
    "verify_pass": "核查通过",
    "verify_fail": "核查不通过",
    "closed": "办结",
}
_LEVEL_LABELS = {"normal": "普通督办", "yellow": "黄牌督办", "red": "红牌督办"}


def count_label(key: str) -> str:
    """Return the Chinese name of one of a history's counts, for the command's summary."""
    if key.startswith("rated_"):
        return f"评分 {key.removeprefix('rated_')}"
    if key.startswith("notice_") and key.count("_") == 2:
        _, level, how = key.split("_")
        return f"{_LEVEL_LABELS.get(level, level)}（{'人工' if how == 'hand' else '规则'}）"
    return _COUNT_LABELS.get(key, key)


@dataclass
class Fate:
    """What will happen to one event, drawn when it is reported; each flag is used once."""

    returned: bool
    disputed: bool
    extended: bool
    supervised: bool
    failed: bool
    escalated: bool
    rated: bool
    lead_returns: int = 0


@dataclass
class Cast:
    """The users who act in the history: the centre, and who works for each place."""

    centre: tuple[User, Actor]
    townships: dict[str, tuple[User, Actor]]
    grid: dict[str, User]
    agencies: dict[int, tuple[User, Actor]]


@dataclass
class Place:
    """A grid of the demo county, its township, and its outline to draw points inside."""

    township_code: str
    name: str
    rings: list[list[tuple[float, float]]]
    bbox: tuple[float, float, float, float]


def history_exists(session: Session) -> bool:
    """Tell whether a history was already written into this database."""
    found = session.exec(
        select(Event.id).where(col(Event.client_id).startswith(HISTORY_PREFIX)).limit(1)
    ).first()
    return found is not None


def has_events(session: Session) -> bool:
    """Tell whether the database holds any event at all (a history or a live one)."""
    return session.exec(select(Event.id).limit(1)).first() is not None


def not_demo_reasons(session: Session) -> list[str]:
    """Say what makes a database more than the demo's: other counties, users of its own."""
    reasons = []
    counties = [code for code in county_codes(session) if code != DEMO_COUNTY_CODE]
    if counties:
        reasons.append(f"示例县以外的县级辖区 {'、'.join(counties[:5])}")
    shown = 5
    users = session.exec(
        select(User.username)
        .where(
            col(User.username).not_in(sorted(DEMO_USERNAMES)),
            ~col(User.username).startswith(HISTORY_USER_PREFIX),
        )
        .order_by(col(User.username))
        .limit(shown + 1)
    ).all()
    if users:
        more = "等" if len(users) > shown else ""
        reasons.append(f"示例用户以外的用户 {'、'.join(users[:shown])}{more}")
    return reasons


def refuse_unless_demo(session: Session) -> None:
    """Refuse, in Chinese, a database that is not only the demo's (see not_demo_reasons)."""
    reasons = not_demo_reasons(session)
    if reasons:
        raise Conflict(
            f"该数据库不是示例数据库（含有{'；'.join(reasons)}）：示例历史是虚构的事件和办理记录，"
            "会混入真实数据。请换用新的数据库；确需写入，请加 --allow-real-data",
            field="database",
            code="not_demo_database",
        )


def history_end(real_now: datetime | None = None) -> datetime:
    """Return where a history ends: the last whole hour at least an hour before now."""
    now = (real_now or datetime.now(UTC)).astimezone(UTC) - HOUR
    return now.replace(minute=0, second=0, microsecond=0)


def write_history(
    engine: Engine,
    *,
    events: int,
    months: int,
    seed: int,
    end: datetime | None = None,
    progress: Progress | None = None,
    allow_real_data: bool = False,
) -> HistoryReport:
    """Write `events` reports over the `months` before `end` and drive each through the loop.

    A database that is not only the demo's is refused unless `allow_real_data`.
    """
    if events < 1 or months < 1:
        raise Conflict("事件数和月数须为正数", field="events")
    end = as_utc(end).astimezone(UTC) if end else history_end()
    if end > datetime.now(UTC):
        raise Conflict("历史必须在当前时间之前结束", field="end")
    start = end - timedelta(days=30 * months)
    writer = _Writer(engine, random.Random(seed), start, end, seed)
    return writer.run(events, progress, allow_real_data=allow_real_data)


class _Writer:
    """The simulation: a clock, a queue of actions, and the session of the current day."""

    def __init__(
        self, engine: Engine, rng: random.Random, start: datetime, end: datetime, seed: int
    ) -> None:
        self.engine, self.rng, self.start, self.end = engine, rng, start, end
        self.report = HistoryReport(seed=seed, started=start, ended=end)
        self.queue: list[tuple[datetime, int, str, int]] = []
        self.seq = 0
        self.scheduled: set[tuple[str, int]] = set()
        self.fates: dict[int, Fate] = {}
        self.cited: dict[int, str] = {}  # returned part → the clause it cited
        # Parts waiting on the centre (an extension to decide, a call to answer): their holder
        # does not feed back meanwhile.
        self.waiting: set[int] = set()
        self.rules: dict[int, MatterRules] = {}
        self.session: Session
        settings = get_settings()
        self.cache = ReferenceCache(
            near_distance_m=settings.near_boundary_m, threshold=settings.classify_threshold
        )
        self.router: Router
        self.calendar: WorkCalendar

    # ---- The run ------------------------------------------------------------------------

    def run(
        self, events: int, progress: Progress | None, *, allow_real_data: bool
    ) -> HistoryReport:
        """Set the cast and the queue up, then take every action due before the end, by day."""
        began = time.monotonic()
        with transaction(self.engine, None) as session:
            if history_exists(session):
                raise Conflict(
                    "该数据库已有示例历史，不再重复写入（请使用新的数据库）", field="events"
                )
            if not allow_real_data:
                refuse_unless_demo(session)
            built = self.cache.get(session)
            self.router, self.calendar = built.router, built.calendar
            self.cast = _cast(session)
            self.places = _places()
            self.weights = _township_weights(session, self.places)
        for i, at in enumerate(
            report_moments(self.start, self.end, events, self.calendar, self.rng)
        ):
            self._push(at, "report", i)
        hour = self.start.replace(minute=0, second=0, microsecond=0) + HOUR
        ticks = 0
        while hour < self.end:
            ticks += 1
            self._push(hour, "tick", ticks)
            hour += TICK
        while self.queue and self.queue[0][0] <= self.end:
            day = self.queue[0][0].astimezone(CHINA_TZ).date()
            # One transaction per simulated day: a large history never holds one giant one.
            with transaction(self.engine, None) as self.session:
                while self.queue and self.queue[0][0] <= self.end:
                    if self.queue[0][0].astimezone(CHINA_TZ).date() != day:
                        break
                    at, _, kind, target = heapq.heappop(self.queue)
                    self.scheduled.discard((kind, target))
                    self._act(at, kind, target)
            if progress:
                progress(self.report.events, events)
        if progress:
            progress(events, events)
        self.report.seconds = time.monotonic() - began
        return self.report

    def _push(self, at: datetime, kind: str, target: int) -> None:
        if (kind, target) in self.scheduled and kind != "report":
            return
        self.scheduled.add((kind, target))
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, target))

    def _act(self, at: datetime, kind: str, target: int) -> None:
        """Take one action in a savepoint; a refusal by the domain rules is counted, not fatal."""
        handler = getattr(self, f"_do_{kind}")
        try:
            with simulated_now(at), self.session.begin_nested():
                event_id = handler(at, target)
        except DomainError as exc:
            self.report.refused[f"{kind}: {exc.code}"] += 1
            event_id = self._event_of(kind, target)
        if event_id is not None:
            with simulated_now(at):
                self._next_for(event_id, at)

    def _event_of(self, kind: str, target: int) -> int | None:
        """Return the event an action was about, so a refused one is followed up all the same."""
        if kind in _PART_ACTIONS:
            return self._part(target).event_id
        if kind in ("verify", "close", "rate"):
            return target
        row: ExtensionRequest | Escalation | Dispute | None = None
        if kind == "decide_extension":
            row = self.session.get(ExtensionRequest, target)
        elif kind == "answer":
            row = self.session.get(Escalation, target)
        elif kind == "ruling":
            row = self.session.get(Dispute, target)
        return row.event_id if row is not None else None

    # ---- Time ---------------------------------------------------------------------------

    def _working(self, moment: datetime) -> datetime:
        """Move a moment into working hours (08:30–17:30 China time of a workday)."""
        local = moment.astimezone(CHINA_TZ)
        minutes = local.hour * 60 + local.minute
        if self.calendar.is_workday(local.date()) and 510 <= minutes < 1050:
            return moment
        day = local.date() if minutes < 510 else local.date() + DAY
        while not self.calendar.is_workday(day):
            day += DAY
        opening = datetime(day.year, day.month, day.day, 8, 30, tzinfo=CHINA_TZ)
        return (opening + timedelta(minutes=self.rng.randint(0, 120))).astimezone(UTC)

    def _within(self, after: datetime, window: timedelta, late: bool) -> datetime:
        """Return a moment within a share of the window after `after`, or past it if late."""
        share = self.rng.uniform(1.1, 2.5) if late else self.rng.uniform(0.05, 0.8)
        moment = after + max(window, timedelta(minutes=30)) * share
        snapped = self._working(moment)
        # Keep the on-time ones on time: moving into office hours must not make them late.
        return moment if not late and snapped > after + window else snapped

    def _soon(self, after: datetime, low_h: float, high_h: float) -> datetime:
        return self._working(after + timedelta(hours=self.rng.uniform(low_h, high_h)))

    # ---- Deciding what comes next -------------------------------------------------------

    def _next_for(self, event_id: int, at: datetime) -> None:
        """Give each live part of the event, and the event itself, its next action."""
        event = self.session.get(Event, event_id)
        assert event is not None
        fate = self.fates[event_id]
        status = EventStatus(event.status)
        if status == EventStatus.RESOLVED:
            self._push(self._soon(at, 1, 30), "verify", event_id)
            return
        if status == EventStatus.VERIFIED:
            self._push(self._soon(at, 0.2, 8), "close", event_id)
            return
        if status == EventStatus.CLOSED:
            if fate.rated:
                self._push(self._soon(at, 24, 120), "rate", event_id)
            return
        if status not in (EventStatus.DISPATCHED, EventStatus.IN_PROGRESS, EventStatus.REOPENED):
            return
        parts = self.session.exec(
            select(Assignment).where(Assignment.event_id == event_id).order_by(col(Assignment.id))
        ).all()
        for part in parts:
            assert part.id is not None
            self._next_for_part(event, fate, part, at)

    def _next_for_part(self, event: Event, fate: Fate, part: Assignment, at: datetime) -> None:
        assert part.id is not None and event.id is not None
        pid = part.id
        if pid in self.waiting or any((k, pid) in self.scheduled for k in _PART_ACTIONS):
            return
        status = AssignmentStatus(part.status)
        late = self.rng.random() < LATE
        if status == AssignmentStatus.PENDING:
            window = (as_utc(part.sign_by) if part.sign_by else at + DAY) - at
            is_lead = part.role == AssignmentRole.LEAD
            if (is_lead and fate.returned and fate.lead_returns == 0) or (
                is_lead and fate.disputed and fate.lead_returns == 1
            ):
                self._push(self._within(at, window, False), "return", pid)
            else:
                self._push(self._within(at, window, late), "sign", pid)
        elif status == AssignmentStatus.RETURNED:
            dispute = open_dispute_of(self.session, event.id)
            if dispute is not None and dispute.id is not None:
                self._push(self._soon(at, 24, 72), "ruling", dispute.id)
            else:
                self._push(self._soon(at, 1, 8), "decide_return", pid)
        elif status == AssignmentStatus.SIGNED:
            window = (as_utc(part.handle_by) if part.handle_by else at + 3 * DAY) - at
            if part.role == AssignmentRole.LEAD and fate.extended:
                fate.extended = False
                self._push(self._within(at, window, False), "ask_extension", pid)
            elif part.role == AssignmentRole.LEAD and fate.supervised:
                fate.supervised = False
                self._push(self._within(at, window, self.rng.random() < 0.5), "supervise", pid)
            elif part.role == AssignmentRole.TERRITORIAL and fate.escalated:
                fate.escalated = False
                self._push(self._soon(at, 0.5, 6), "escalate", pid)
            else:
                self._push(self._within(at, window, late), "feed_back", pid)

    # ---- The actions: each returns the event whose parts to look at again ---------------

    def _do_tick(self, at: datetime, _: int) -> int | None:
        local = at.astimezone(CHINA_TZ)
        if not 8 <= local.hour <= 20:
            return None
        for notice in issue_rule_notices(self.session, now=at, calendar=self.calendar):
            self.report.counts[f"notice_{notice.level.value}_rule"] += 1
            if self.rng.random() < NOTICE_REPLIED and notice.id is not None:
                self._push(self._soon(at, 0.5, 6), "reply", notice.id)
        return None

    def _do_report(self, at: datetime, index: int) -> int | None:
        """Receive a report at `at` (the phone's time a little earlier); route it seconds later."""
        rng = self.rng
        township = rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        place = rng.choice(self.places[township])
        lon, lat = _point_in(place, rng)
        in_force = list_in_force(self.session, DEMO_COUNTY_CODE, at)
        assert in_force is not None and in_force.id is not None
        rules = self._rules(in_force.id)
        matter = _pick_matter(rules, rng)
        received = at
        with simulated_now(received):
            body = EventCreate(
                client_id=uuid.UUID(int=(HISTORY_MARK << 64) | rng.getrandbits(64)),
                reported_at=max(self.start, at - timedelta(seconds=rng.randint(5, 240))),
                lon=lon,
                lat=lat,
                address=f"{place.name}",
                description=_description(matter, rng),
                matter_code=matter.code,
                urgency=Urgency.URGENT if rng.random() < URGENT else Urgency.NORMAL,
            )
            intake = report_event(
                self.session, self.router, body, reporter=self.cast.grid[township], now=received
            )
        event = intake.event
        assert event.id is not None and intake.created
        disputed = rng.random() < DISPUTED
        self.fates[event.id] = Fate(
            returned=disputed or rng.random() < RETURNED - DISPUTED,
            disputed=disputed,
            extended=rng.random() < EXTENDED,
            supervised=rng.random() < SUPERVISED,
            failed=rng.random() < FAILED_VERIFICATION,
            escalated=rng.random() < ESCALATED,
            rated=rng.random() < RATED,
        )
        self.report.events += 1
        self._push(received + timedelta(seconds=rng.randint(1, 20)), "route", event.id)
        return None

    def _do_route(self, at: datetime, event_id: int) -> int:
        """Route the event as the worker's drain does, synchronously."""
        for one in route_events(self.session, self.router, self.calendar, [event_id], now=at):
            self.report.counts[f"routed_{one.outcome}"] += 1
            self.report.assignments += len(one.assignment_ids)
        return event_id

    def _do_sign(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        user, actor = self._holder(part)
        parts_api.sign(self.session, actor, user, pid, now=at)
        self.report.counts["signed"] += 1
        if part.sign_by and at > as_utc(part.sign_by):
            self.report.counts["signed_late"] += 1
        return part.event_id

    def _do_return(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        event = self._event(part.event_id)
        user, actor = self._holder(part)
        clause = self._clause_elsewhere(event, part)
        fate = self.fates[part.event_id]
        fate.lead_returns += 1
        self.cited[pid] = clause.code
        parts_api.return_assignment(
            self.session,
            actor,
            user,
            pid,
            reason=f"经核实，该事项不属本单位职责，应由{self._name(clause.lead_department_id)}办理",
            clause_code=clause.code,
            clause_note=clause.name,
            now=at,
        )
        self.report.counts["returned"] += 1
        return part.event_id

    def _do_decide_return(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        event = self._event(part.event_id)
        user, actor = self.cast.centre
        fate = self.fates[part.event_id]
        target = self._clause_target(event, part)
        if target is not None and (fate.disputed or self.rng.random() < REDISPATCHED):
            parts_api.redispatch(
                self.session,
                actor,
                user,
                pid,
                department_id=target,
                reason="经研判，按所援引清单条款改派",
                now=at,
            )
            self.report.counts["redispatched"] += 1
        else:
            parts_api.refuse_return(
                self.session, actor, user, pid, reason="经研判属本单位职责，不予退回", now=at
            )
            self.report.counts["return_refused"] += 1
        return part.event_id

    def _do_ruling(self, at: datetime, dispute_id: int) -> int:
        dispute = self.session.get(Dispute, dispute_id)
        assert dispute is not None
        if dispute.status != DisputeStatus.OPEN:
            return dispute.event_id
        event = self._event(dispute.event_id)
        user, actor = self.cast.centre
        parts = self.session.exec(
            select(Assignment).where(Assignment.event_id == event.id).order_by(col(Assignment.id))
        ).all()
        leads = [p for p in parts if p.role == AssignmentRole.LEAD]
        lead = self.rng.choice(leads).department_id
        lead_agency = self._agency(lead)
        co = [
            p.department_id
            for p in parts
            if p.role == AssignmentRole.CO
            and p.status in (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
            and self._agency(p.department_id) != lead_agency
        ]
        co = list(dict.fromkeys(co))
        minutes = f"清河县社会治理中心争议裁定〔{at.astimezone(CHINA_TZ).year}〕{dispute_id}号"
        change = self._list_change(event, lead_agency)

        def ruling(list_change: ListChangeProposal | None) -> None:
            rule(
                self.session,
                actor,
                user,
                dispute_id,
                lead_department_id=lead,
                co_department_ids=co,
                minutes_ref=minutes,
                reasoning="经会商，按清单职责边界和事件实际情况裁定",
                list_change=list_change,
                now=at,
            )

        try:
            with self.session.begin_nested():
                ruling(change)
            if change is not None:
                self.report.counts["list_change_requested"] += 1
        except DomainError:
            if change is None:
                raise
            ruling(None)  # the change was refused by the list check: rule without it
        self.report.counts["disputes_ruled"] += 1
        return dispute.event_id

    def _do_feed_back(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        user, actor = self._holder(part)
        parts_api.feed_back(
            self.session, actor, user, pid, note="已按职责处置完毕，现场已整改", now=at
        )
        self.report.counts["fed_back"] += 1
        if part.handle_by and at > as_utc(part.handle_by):
            self.report.counts["fed_back_late"] += 1
        return part.event_id

    def _do_ask_extension(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        user, actor = self._holder(part)
        request = request_extension(
            self.session,
            actor,
            user,
            pid,
            working_days=self.rng.randint(2, 5),
            reason="需协调相关单位并等待检测结果，申请延期",
            now=at,
        )
        self.report.counts["extension_requested"] += 1
        assert request.id is not None
        self.waiting.add(pid)
        self._push(self._soon(at, 1, 6), "decide_extension", request.id)
        return part.event_id

    def _do_decide_extension(self, at: datetime, request_id: int) -> int:
        request = self.session.get(ExtensionRequest, request_id)
        assert request is not None
        self.waiting.discard(request.assignment_id)
        user, actor = self.cast.centre
        approve = self.rng.random() < EXTENSION_APPROVED
        decided = decide_extension(
            self.session,
            actor,
            user,
            request_id,
            approve=approve,
            calendar=self.calendar,
            note="同意延期" if approve else "理由不充分，请按原时限办结",
            now=at,
        )
        self.report.counts[f"extension_{decided.status.value}"] += 1
        return request.event_id

    def _do_supervise(self, at: datetime, pid: int) -> int:
        part = self._part(pid)
        user, actor = self.cast.centre
        overdue = part.handle_by is not None and at > as_utc(part.handle_by)
        level = NoticeLevel.YELLOW if overdue else NoticeLevel.NORMAL
        if overdue and self.rng.random() < 0.3:
            level = NoticeLevel.RED
        notice = issue_notice(
            self.session,
            actor,
            user,
            pid,
            level=level,
            note="请加快处置进度，按时反馈办理结果",
            now=at,
        )
        self.report.counts[f"notice_{level.value}_hand"] += 1
        assert notice.id is not None
        self._push(self._soon(at, 0.5, 6), "reply", notice.id)
        return part.event_id

    def _do_reply(self, at: datetime, notice_id: int) -> int | None:
        from dispatch.events.models import NoticeStatus, SupervisionNotice

        notice = self.session.get(SupervisionNotice, notice_id)
        assert notice is not None
        if notice.status != NoticeStatus.OPEN:
            return None
        user, actor = self._holder(self._part(notice.assignment_id))
        reply_notice(self.session, actor, user, notice_id, note="已收到督办，正在加紧处置", now=at)
        self.report.counts["notice_replied"] += 1
        return notice.event_id

    def _do_escalate(self, at: datetime, pid: int) -> int:
        event_id = self._part(pid).event_id
        event = self._event(event_id)
        assert event.township_code is not None
        user, actor = self.cast.townships[event.township_code]
        called = escalations.escalate(
            self.session,
            actor,
            user,
            event_id,
            reason="情况复杂，乡镇力量不足，请县级部门支援",
            now=at,
        )
        self.report.counts["escalated"] += 1
        assert called.id is not None and called.respond_by is not None
        self.waiting.add(called.assignment_id)
        self._push(self._soon(at, 0.2, 3), "answer", called.id)
        return event_id

    def _do_answer(self, at: datetime, escalation_id: int) -> int:
        called = self.session.get(Escalation, escalation_id)
        assert called is not None
        self.waiting.discard(called.assignment_id)
        event = self._event(called.event_id)
        user, actor = self.cast.centre
        held = {
            self._agency(p.department_id)
            for p in self.session.exec(
                select(Assignment).where(
                    Assignment.event_id == event.id,
                    col(Assignment.status) != AssignmentStatus.CANCELLED,
                )
            ).all()
        }
        free = [a for a in sorted(self.cast.agencies) if a not in held]
        if not free:
            raise Conflict("无可承接的县级部门", code="no_department")
        escalations.answer(
            self.session,
            actor,
            user,
            self.calendar,
            escalation_id,
            department_id=self.rng.choice(free),
            now=at,
        )
        self.report.counts["escalation_answered"] += 1
        return called.event_id

    def _do_verify(self, at: datetime, event_id: int) -> int:
        event = self._event(event_id)
        assert event.township_code is not None
        user, actor = self.cast.townships[event.township_code]
        fate = self.fates[event_id]
        passed = not fate.failed
        fate.failed = False
        verification.verify(
            self.session,
            actor,
            user,
            event_id,
            passed=passed,
            note="现场核查通过" if passed else "复查发现问题仍未整改到位",
            now=at,
        )
        self.report.counts["verify_pass" if passed else "verify_fail"] += 1
        return event_id

    def _do_close(self, at: datetime, event_id: int) -> int:
        event = self._event(event_id)
        assert event.township_code is not None
        user, actor = self.cast.townships[event.township_code]
        verification.close(self.session, actor, user, event_id, now=at)
        self.report.counts["closed"] += 1
        return event_id

    def _do_rate(self, at: datetime, event_id: int) -> int:
        user, actor = self.cast.centre
        event = self._event(event_id)
        rating = self.rng.choices(list(RATINGS), weights=list(RATINGS.values()))[0]
        if event.rework_count and rating < 3:
            rating = 4  # a second follow-up after reopening finds it mended
        verification.rate(
            self.session,
            actor,
            user,
            event_id,
            rating=rating,
            note=None if rating >= 3 else "群众反映问题未彻底解决",
            now=at,
        )
        self.report.counts[f"rated_{rating}"] += 1
        return event_id

    # ---- Looking things up --------------------------------------------------------------

    def _rules(self, list_id: int) -> MatterRules:
        if list_id not in self.rules:
            self.rules[list_id] = load_rules(self.session, list_id)
        return self.rules[list_id]

    def _part(self, pid: int) -> Assignment:
        part = self.session.get(Assignment, pid)
        assert part is not None
        return part

    def _event(self, event_id: int) -> Event:
        event = self.session.get(Event, event_id)
        assert event is not None
        return event

    def _department(self, department_id: int) -> Department:
        department = self.session.get(Department, department_id)
        assert department is not None
        return department

    def _name(self, department_id: int | None) -> str:
        return self._department(department_id).name if department_id else "其他部门"

    def _agency(self, department_id: int) -> int:
        department = self._department(department_id)
        if department.kind == DepartmentKind.STATIONED_UNIT and department.parent_id is not None:
            return department.parent_id
        return department_id

    def _holder(self, part: Assignment) -> tuple[User, Actor]:
        """Return who acts on a part: its township's operator, or its agency's staff."""
        department = self._department(part.department_id)
        if department.kind == DepartmentKind.TOWNSHIP_PLATFORM:
            assert department.township_code is not None
            return self.cast.townships[department.township_code]
        return self.cast.agencies[self._agency(part.department_id)]

    def _clause_elsewhere(self, event: Event, part: Assignment) -> MatterRule:
        """Return a row of the routing list whose lead is another county department."""
        assert event.matter_list_id is not None
        rules = self._rules(event.matter_list_id)
        mine = self._agency(part.department_id)
        others = [
            m
            for m in rules.matters
            if m.lead_department_id is not None
            and m.lead_department_id in self.cast.agencies
            and self._agency(m.lead_department_id) != mine
        ]
        return self.rng.choice(others)

    def _clause_target(self, event: Event, part: Assignment) -> int | None:
        """Return the department the returned part's cited clause names as lead."""
        assert part.id is not None
        rules = self._rules(event.matter_list_id or 0)
        cited = rules.get(self.cited.get(part.id, ""))
        target = cited.lead_department_id if cited else None
        if target is None or target == part.department_id:
            return None
        return target

    def _list_change(self, event: Event, lead_agency: int) -> ListChangeProposal | None:
        rules = self._rules(event.matter_list_id or 0)
        matter = rules.get(event.matter_code or "")
        if matter is None or matter.lead_department_id is None:
            return None
        if self._agency(matter.lead_department_id) == lead_agency:
            return None
        if self.rng.random() >= RULED_WITH_CHANGE:
            return None
        return ListChangeProposal(
            kind=ListChangeKind.MOVE_LEAD,
            matter_code=matter.code,
            lead_department_id=lead_agency,
            reasons=f"争议裁定由{self._name(lead_agency)}牵头，建议修订清单",
        )


_PART_ACTIONS = (
    "sign",
    "return",
    "decide_return",
    "feed_back",
    "ask_extension",
    "supervise",
    "escalate",
)


def report_moments(
    start: datetime, end: datetime, count: int, calendar: WorkCalendar, rng: random.Random
) -> list[datetime]:
    """Return sorted report moments: mostly working hours on workdays, some evenings, weekends.

    Nine in ten fall in 08:00–18:00 China time on a workday, the rest in 06:00–22:00 of any day;
    the intake replay bench (bench/replay.py) draws a province-day from the same shape.
    """
    days = []
    day = start.astimezone(CHINA_TZ).date()
    while day <= end.astimezone(CHINA_TZ).date():
        days.append(day)
        day += DAY
    workdays = [d for d in days if calendar.is_workday(d)] or days
    times: list[datetime] = []
    while len(times) < count:
        if rng.random() < 0.9:
            day = rng.choice(workdays)
            minute = rng.randint(8 * 60, 18 * 60 - 1)
        else:
            day = rng.choice(days)
            minute = rng.randint(6 * 60, 22 * 60 - 1)
        local = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ) + timedelta(
            minutes=minute, seconds=rng.randint(0, 59)
        )
        moment = local.astimezone(UTC)
        if start <= moment <= end:
            times.append(moment)
    return sorted(times)


def _pick_matter(rules: MatterRules, rng: random.Random) -> MatterRule:
    """Pick a matter: some matters are reported far more often than others (a fixed skew)."""
    matters = rules.matters
    weights = [1.0 / (1 + (i * 7) % len(matters)) ** 0.7 for i in range(len(matters))]
    return rng.choices(matters, weights=weights)[0]


_BY_MATTER: dict[str, list[str]] = {}


def _description(matter: MatterRule, rng: random.Random) -> str:
    if not _BY_MATTER:
        for code, text in LABELLED_REPORTS:
            _BY_MATTER.setdefault(code, []).append(text)
    written = _BY_MATTER.get(matter.code)
    if written:
        return rng.choice(written)
    return f"网格巡查发现{matter.name}问题，请相关单位处置"


def _places() -> dict[str, list[Place]]:
    """Read the demo grids, by township."""
    grids = json.loads(demo_file("grids.geojson").read_text(encoding="utf-8"))
    places: dict[str, list[Place]] = {}
    for feature in grids["features"]:
        props = feature["properties"]
        geometry = feature["geometry"]
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        rings = [[(x, y) for x, y, *_ in polygon[0]] for polygon in polygons]
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        township = props["code"][:9]
        places.setdefault(township, []).append(
            Place(township, props["name"], rings, (min(xs), min(ys), max(xs), max(ys)))
        )
    return places


def _point_in(place: Place, rng: random.Random) -> tuple[float, float]:
    """Draw a point inside a grid's outline (its outer rings), by rejection from its box."""
    x0, y0, x1, y1 = place.bbox
    for _ in range(200):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if any(_inside(ring, x, y) for ring in place.rings):
            return round(x, 6), round(y, 6)
    ring = place.rings[0]
    return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)


def _inside(ring: list[tuple[float, float]], x: float, y: float) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _township_weights(session: Session, places: dict[str, list[Place]]) -> dict[str, float]:
    """Weight townships by population: more people, more reports."""
    rows = session.exec(
        select(JurisdictionRow.code, JurisdictionRow.population).where(
            col(JurisdictionRow.code).in_(sorted(places))
        )
    ).all()
    return {code: float(population or 1) for code, population in sorted(rows)}


def _cast(session: Session) -> Cast:
    """Find or create the users who act: the demo users where they fit, history users else."""
    centre = _user(session, "centre", UserRole.COMMAND_CENTRE, None, None, "县社会治理中心")
    townships: dict[str, tuple[User, Actor]] = {}
    grid: dict[str, User] = {}
    platforms = session.exec(
        select(Department)
        .where(Department.kind == DepartmentKind.TOWNSHIP_PLATFORM)
        .order_by(col(Department.township_code))
    ).all()
    for platform in platforms:
        code = platform.township_code
        if code is None or code in townships:
            continue
        name = platform.name.split("综合", 1)[0] if "综合" in platform.name else code
        townships[code] = _user(session, f"t{code}", UserRole.TOWNSHIP_OPERATOR, code, None, name)
        grid[code] = _user(session, f"g{code}", UserRole.GRID_WORKER, code, None, name)[0]
    agencies: dict[int, tuple[User, Actor]] = {}
    for department in session.exec(
        select(Department)
        .where(Department.kind == DepartmentKind.COUNTY_DEPARTMENT)
        .order_by(col(Department.id))
    ).all():
        assert department.id is not None
        agencies[department.id] = _user(
            session,
            f"d{department.id}",
            UserRole.DEPARTMENT_STAFF,
            None,
            department.id,
            department.name,
        )
    return Cast(centre, townships, grid, agencies)


_HASHES: list[str] = []


def _unusable_hash() -> str:
    if not _HASHES:
        _HASHES.append(hash_password(secrets.token_urlsafe(32)))
    return _HASHES[0]


def _is(column: Any, value: object) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], column.is_(None) if value is None else column == value)


def _user(
    session: Session,
    name: str,
    role: UserRole,
    township_code: str | None,
    department_id: int | None,
    display: str,
) -> tuple[User, Actor]:
    """Return an active demo user of this role and scope, else the history user `history.<name>`."""
    found = session.exec(
        select(User)
        .where(
            col(User.username).in_(sorted(DEMO_USERNAMES)),
            User.role == role,
            _is(col(User.township_code), township_code),
            _is(col(User.department_id), department_id),
            col(User.active).is_(True),
        )
        .order_by(col(User.id))
    ).first()
    username = f"{HISTORY_USER_PREFIX}{name}"
    if found is None:
        found = session.exec(select(User).where(User.username == username)).first()
    if found is None:
        check_scope(session, role, township_code, department_id)
        # A history's actors never sign in (inactive, an unknown password): they only put
        # names on the past's steps. One hash serves them all: hashing is slow by design.
        found = User(
            username=username,
            display_name=f"{display}（示例历史）",
            password_hash=_unusable_hash(),
            role=role,
            township_code=township_code,
            department_id=department_id,
            active=False,
        )
        session.add(found)
        session.flush()
    return found, actor_for(session, found)
