"""The closed loop after routing: sign, return, feed back, verify, close, rate, triage by hand.

Each function checks permission, applies one transition from dispatch.lifecycle and appends
a step; none commits (the request does). A forbidden transition raises Conflict naming the
current state; a missing reason raises InvalidInput naming the field.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.errors import InvalidInput, NotFound
from dispatch.events import Routed, add_step, apply_decision, get_event, move_event
from dispatch.lifecycle import (
    AssignmentAction,
    EventAction,
    next_assignment_status,
    next_event_status,
)
from dispatch.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Department,
    Event,
    EventStatus,
    User,
    utcnow,
)
from dispatch.policy import Action, Actor, authorize
from dispatch.router import Router
from dispatch.users import assignment_scope, event_scope
from dispatch.workcalendar import WorkCalendar
from geo.levels import Level

COMMAND_CENTRE = "县社会治理中心"
# Lead and cooperating parts must all be fed back before the township verifies.
HANDLING_ROLES = (AssignmentRole.LEAD, AssignmentRole.CO)
LIVE = (AssignmentStatus.PENDING, AssignmentStatus.SIGNED, AssignmentStatus.FED_BACK)


def get_assignment(session: Session, assignment_id: int) -> tuple[Assignment, Event]:
    """Return an assignment and its event, or raise NotFound."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    return assignment, get_event(session, assignment.event_id)


def _required(text: str | None, field: str, label: str) -> str:
    if text is None or not text.strip():
        raise InvalidInput(f"{label}不能为空 ({field} is required)", field=field)
    return text.strip()


def _department_name(session: Session, department_id: int) -> str:
    department = session.get(Department, department_id)
    return department.name if department else str(department_id)


def _move_assignment(
    session: Session,
    event: Event,
    assignment: Assignment,
    action: AssignmentAction,
    *,
    user: User | None,
    now: datetime,
    reason: str | None = None,
    from_org: str | None = None,
    to_org: str | None = None,
    data: dict[str, object] | None = None,
) -> None:
    before = assignment.status
    assignment.status = next_assignment_status(before, action)
    session.add(assignment)
    add_step(
        session,
        event,
        action=action.value,
        actor=user,
        assignment=assignment,
        from_org=from_org,
        to_org=to_org,
        from_status=before,
        to_status=assignment.status,
        reason=reason,
        data=data,
        at=now,
    )


def _authorize_assignment(
    session: Session, actor: Actor, action: Action, assignment: Assignment, event: Event
) -> None:
    authorize(actor, action, assignment=assignment_scope(session, assignment, event))


def sign(
    session: Session, actor: Actor, user: User, assignment_id: int, *, now: datetime | None = None
) -> Assignment:
    """Sign for an assignment (签收); the lead's signature puts the event in progress."""
    now = now or utcnow()
    assignment, event = get_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.SIGN, assignment, event)
    name = _department_name(session, assignment.department_id)
    _move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.SIGN,
        user=user,
        now=now,
        from_org=name,
        reason=f"{name} 签收",
    )
    assignment.signed_at = now
    if assignment.role == AssignmentRole.LEAD and event.status in (
        EventStatus.DISPATCHED,
        EventStatus.REOPENED,
    ):
        move_event(
            session,
            event,
            EventAction.LEAD_SIGN,
            actor=user,
            at=now,
            reason=f"牵头单位 {name} 已签收",
        )
    return assignment


def return_assignment(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    reason: str | None,
    clause: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Return an assignment as "not ours" (退回), with the reason and the list clause relied on."""
    now = now or utcnow()
    reason = _required(reason, "reason", "退回理由")
    clause = _required(clause, "clause", "所依据的清单条款")
    assignment, event = get_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.RETURN_ASSIGNMENT, assignment, event)
    name = _department_name(session, assignment.department_id)
    _move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.RETURN,
        user=user,
        now=now,
        from_org=name,
        to_org=COMMAND_CENTRE,
        reason=reason,
        data={"clause": clause},
    )
    assignment.return_reason, assignment.return_clause = reason, clause
    return assignment


def feed_back(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    note: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Report back on handled work (反馈); when every handler has, the event awaits verification."""
    now = now or utcnow()
    note = _required(note, "note", "反馈内容")
    assignment, event = get_assignment(session, assignment_id)
    _authorize_assignment(session, actor, Action.FEED_BACK, assignment, event)
    name = _department_name(session, assignment.department_id)
    _move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.FEED_BACK,
        user=user,
        now=now,
        from_org=name,
        reason=note,
    )
    assignment.feedback, assignment.fed_back_at = note, now
    session.flush()
    if _all_handlers_fed_back(session, event):
        move_event(
            session,
            event,
            EventAction.ALL_FED_BACK,
            actor=user,
            at=now,
            reason="牵头及协办单位均已反馈，待属地核查",
        )
    return assignment


def _live_handlers(session: Session, event: Event) -> list[Assignment]:
    return list(
        session.exec(
            select(Assignment).where(
                Assignment.event_id == event.id,
                col(Assignment.role).in_(HANDLING_ROLES),
                col(Assignment.status).in_(LIVE),
            )
        )
    )


def _all_handlers_fed_back(session: Session, event: Event) -> bool:
    handlers = _live_handlers(session, event)
    return bool(handlers) and all(a.status == AssignmentStatus.FED_BACK for a in handlers)


def refuse_return(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Refuse a department's return: the assignment goes back to it, pending again."""
    now = now or utcnow()
    reason = _required(reason, "reason", "不予退回的理由")
    assignment, event = get_assignment(session, assignment_id)
    authorize(actor, Action.REFUSE_RETURN, event=event_scope(session, event))
    name = _department_name(session, assignment.department_id)
    _move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.REFUSE_RETURN,
        user=user,
        now=now,
        from_org=COMMAND_CENTRE,
        to_org=name,
        reason=reason,
    )
    return assignment


def redispatch(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    department_id: int,
    reason: str | None,
    now: datetime | None = None,
) -> Assignment:
    """Give a returned assignment to another department, as a new round of the same part."""
    now = now or utcnow()
    reason = _required(reason, "reason", "改派理由")
    assignment, event = get_assignment(session, assignment_id)
    authorize(actor, Action.REDISPATCH, event=event_scope(session, event))
    target = session.get(Department, department_id)
    if target is None or target.id is None:
        raise InvalidInput(f"部门 {department_id} 不存在", field="department_id")
    if target.id == assignment.department_id:
        raise InvalidInput("改派对象与原单位相同", field="department_id")
    old_name = _department_name(session, assignment.department_id)
    _move_assignment(
        session,
        event,
        assignment,
        AssignmentAction.REDISPATCH,
        user=user,
        now=now,
        from_org=old_name,
        to_org=target.name,
        reason=reason,
    )
    last_round = max(
        session.exec(
            select(Assignment.round).where(
                Assignment.event_id == event.id, Assignment.role == assignment.role
            )
        ).all()
    )
    fresh = Assignment(
        event_id=assignment.event_id,
        department_id=target.id,
        role=assignment.role,
        round=last_round + 1,
        duties=list(assignment.duties),
        duties_text=assignment.duties_text,
        sign_by=assignment.sign_by,
        handle_by=assignment.handle_by,
        created_at=now,
    )
    session.add(fresh)
    session.flush()
    add_step(
        session,
        event,
        action="dispatch",
        actor=user,
        assignment=fresh,
        from_org=COMMAND_CENTRE,
        to_org=target.name,
        to_status=fresh.status,
        reason=f"改派: {reason}",
        at=now,
    )
    return fresh


def verify(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    passed: bool,
    note: str | None,
    now: datetime | None = None,
) -> Event:
    """Record the township's on-site check (核查); a failure sends the handlers back to work."""
    now = now or utcnow()
    event = get_event(session, event_id)
    authorize(actor, Action.VERIFY, event=event_scope(session, event))
    if passed:
        move_event(
            session,
            event,
            EventAction.VERIFY_PASS,
            actor=user,
            at=now,
            reason=note or "现场核查通过",
        )
        return event
    note = _required(note, "note", "核查不通过的说明")
    move_event(session, event, EventAction.VERIFY_FAIL, actor=user, at=now, reason=note)
    event.rework_count += 1
    _send_back_to_work(session, event, user, now, note)
    return event


def _send_back_to_work(session: Session, event: Event, user: User, now: datetime, why: str) -> None:
    for assignment in _live_handlers(session, event):
        if assignment.status == AssignmentStatus.FED_BACK:
            _move_assignment(
                session,
                event,
                assignment,
                AssignmentAction.REWORK,
                user=user,
                now=now,
                to_org=_department_name(session, assignment.department_id),
                reason=f"重办: {why}",
            )


def close(
    session: Session, actor: Actor, user: User, event_id: int, *, now: datetime | None = None
) -> Event:
    """Close a verified event (办结)."""
    now = now or utcnow()
    event = get_event(session, event_id)
    authorize(actor, Action.CLOSE, event=event_scope(session, event))
    move_event(session, event, EventAction.CLOSE, actor=user, at=now, reason="办结")
    event.closed_at = now
    return event


UNSATISFIED_BELOW = 3


def rate(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    rating: int,
    note: str | None,
    now: datetime | None = None,
) -> Event:
    """Record the follow-up rating (回访, 1-5); 1 or 2 reopens the event for the handlers."""
    now = now or utcnow()
    if not 1 <= rating <= 5:
        raise InvalidInput(f"评分应为 1-5，收到 {rating}", field="rating")
    event = get_event(session, event_id)
    authorize(actor, Action.RATE, event=event_scope(session, event))
    event.rating = rating
    if rating >= UNSATISFIED_BELOW:
        move_event(
            session,
            event,
            EventAction.RATE_SATISFIED,
            actor=user,
            at=now,
            reason=note or f"回访评分 {rating}",
            data={"rating": rating},
        )
        return event
    why = _required(note, "note", "不满意的原因")
    move_event(
        session,
        event,
        EventAction.RATE_UNSATISFIED,
        actor=user,
        at=now,
        reason=why,
        data={"rating": rating},
    )
    event.rework_count += 1
    event.closed_at = None
    _send_back_to_work(session, event, user, now, why)
    return event


def triage_route(
    session: Session,
    actor: Actor,
    user: User,
    router: Router,
    calendar: WorkCalendar,
    event_id: int,
    *,
    matter_code: str | None,
    jurisdiction_code: str | None,
    note: str | None,
    now: datetime | None = None,
) -> Routed:
    """Route a needs-triage event by hand, choosing the matter and/or the jurisdiction."""
    now = now or utcnow()
    if not matter_code and not jurisdiction_code:
        raise InvalidInput("请选择事项或辖区", field="matter_code")
    event = get_event(session, event_id)
    authorize(actor, Action.TRIAGE_ROUTE, event=event_scope(session, event))
    next_event_status(event.status, EventAction.TRIAGE_ROUTE)  # Conflict unless needs triage
    location = (
        router.location_of(jurisdiction_code)
        if jurisdiction_code
        else router.index.locate(event.lon, event.lat)
    )
    decision = router.decide_at(
        session,
        location,
        matter_code=matter_code or event.reported_matter_code,
        description=event.description,
        urgent=event.urgent,
        at=event.received_at,
    )
    if not decision.routed:
        raise InvalidInput(
            "人工分拨仍无法派单: " + "；".join(decision.triage_reasons),
            field="matter_code" if matter_code else "jurisdiction_code",
        )
    if jurisdiction_code:
        for level, attribute in (
            (Level.COUNTY, "county_code"),
            (Level.TOWNSHIP, "township_code"),
            (Level.VILLAGE, "village_code"),
            (Level.GRID, "grid_code"),
        ):
            found = location.at(level)
            setattr(event, attribute, found.code if found else None)
    reason = f"人工研判分拨: {note}" if note else "人工研判分拨"
    return apply_decision(
        session,
        event,
        decision,
        calendar,
        now=now,
        actor=user,
        action=EventAction.TRIAGE_ROUTE,
        reason=reason,
    )


def mark_invalid(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Event:
    """Weed out an invalid or duplicate report during triage."""
    now = now or utcnow()
    reason = _required(reason, "reason", "作废理由")
    event = get_event(session, event_id)
    authorize(actor, Action.MARK_INVALID, event=event_scope(session, event))
    move_event(session, event, EventAction.MARK_INVALID, actor=user, at=now, reason=reason)
    return event


def merge(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    into_id: int,
    reason: str | None,
    now: datetime | None = None,
) -> Event:
    """Merge a duplicate report into its master event (合并); its live parts are cancelled."""
    now = now or utcnow()
    if into_id == event_id:
        raise InvalidInput("不能合并到自身", field="into_id")
    duplicate = get_event(session, event_id)
    master = get_event(session, into_id)
    authorize(actor, Action.MERGE, event=event_scope(session, duplicate))
    if master.status in (EventStatus.MERGED, EventStatus.INVALID):
        raise InvalidInput(f"主事件 {into_id} 已{master.status}，不能作为合并目标", field="into_id")
    move_event(
        session,
        duplicate,
        EventAction.MERGE,
        actor=user,
        at=now,
        reason=reason or f"与事件 {into_id} 重复",
        data={"into": into_id},
    )
    duplicate.merged_into_id = into_id
    for assignment in session.exec(
        select(Assignment).where(
            Assignment.event_id == event_id,
            col(Assignment.status).in_(
                (AssignmentStatus.PENDING, AssignmentStatus.SIGNED, AssignmentStatus.RETURNED)
            ),
        )
    ).all():
        _move_assignment(
            session,
            duplicate,
            assignment,
            AssignmentAction.CANCEL,
            user=user,
            now=now,
            reason=f"事件已合并到 {into_id}",
        )
    add_step(
        session,
        master,
        action="merged_in",
        actor=user,
        at=now,
        reason=f"合并重复上报的事件 {event_id}",
        data={"from": event_id},
    )
    return duplicate
