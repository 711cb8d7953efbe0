"""Extensions (延期): a part's holder asks for more working days; the centre grants or refuses.

A request is made before the part's handling deadline, on a live part (pending or signed),
one pending at a time. Approval moves the part's handle_by by the granted working days on
the work calendar (never a pause: the clock keeps running), resets the handling warning so
the scheduler warns again against the new deadline, and keeps the total granted on the part
within the county's limit. A request not decided before the deadline lapses (已失效): the
scheduler lapses it, a late decision lapses it instead of deciding, and the loop lapses it
when the part stops being live (`dispatch.loop.parts`).

No function commits; each locks the part (and its event) first, then the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select as select_columns
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from dispatch.core.clock import as_utc, beijing_text, utcnow
from dispatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events.deadlines import key_reached, live
from dispatch.events.lifecycle import ASSIGNMENT_LABELS
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    ExtensionRequest,
    ExtensionStatus,
)
from dispatch.events.scopes import assignment_scope
from dispatch.events.steps import add_step, add_system_steps
from dispatch.loop.parts import (
    COMMAND_CENTRE,
    EXTENDABLE,
    department_name,
    lapse_reason,
    lapse_request,
    lock_assignment,
    required_text,
)
from dispatch.reference.calendar import WorkCalendar
from dispatch.reference.county_rules import county_settings
from dispatch.reference.models import Department, DepartmentKind
from dispatch.supervision.alerts import alert_level
from dispatch.supervision.batch import department_names, events_by_id
from dispatch.users.models import User, UserRole
from dispatch.users.policy import CENTRE_ROLES, Action, Actor, authorize

EXTENSION_LABELS: dict[ExtensionStatus, str] = {
    ExtensionStatus.PENDING: "待审批",
    ExtensionStatus.APPROVED: "已批准",
    ExtensionStatus.REFUSED: "未批准",
    ExtensionStatus.LAPSED: "已失效",
}
MAX_WORKING_DAYS = 366  # ExtensionRequest.working_days
_DAY = timedelta(days=1)


def _working_days(value: int | None, field: str, *, most: int = MAX_WORKING_DAYS) -> int:
    if value is None or isinstance(value, bool) or not 1 <= value <= most:
        raise InvalidInput(
            f"延期天数应为 1 至 {most} 个工作日", field=field, code="working_days_invalid"
        )
    return value


def granted_total(session: Session, assignment_id: int) -> int:
    """Return the working days already granted on a part."""
    total = session.exec(
        select(func.coalesce(func.sum(ExtensionRequest.granted_days), 0)).where(
            ExtensionRequest.assignment_id == assignment_id,
            ExtensionRequest.status == ExtensionStatus.APPROVED,
        )
    ).one()
    return int(total or 0)


def _limit(session: Session, event: Event) -> int:
    return county_settings(session, event.county_code).extension_limit_days


def _pending(session: Session, assignment_id: int) -> ExtensionRequest | None:
    return session.exec(
        select(ExtensionRequest)
        .where(
            ExtensionRequest.assignment_id == assignment_id,
            ExtensionRequest.status == ExtensionStatus.PENDING,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _not_live(assignment: Assignment) -> Conflict:
    label = ASSIGNMENT_LABELS[AssignmentStatus(assignment.status)]
    return Conflict(
        f"任务当前状态为「{label}」，不能申请延期（仅待签收或处置中的任务可以）",
        code="status_conflict",
        extra={"status": str(assignment.status)},
    )


def _beyond_limit(limit: int, granted: int, more: int) -> Conflict:
    return Conflict(
        f"延期累计不得超过 {limit} 个工作日：该任务已延期 {granted} 个工作日，"
        f"最多还可延期 {max(limit - granted, 0)} 个工作日，本次 {more} 个工作日超出上限",
        code="extension_limit",
    )


def request_extension(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    working_days: int | None,
    reason: str | None,
    now: datetime | None = None,
) -> ExtensionRequest:
    """Ask for more working days on a live part, before its handling deadline (申请延期)."""
    now = now or utcnow()
    days = _working_days(working_days, "working_days")
    reason = required_text(reason, "reason", "延期理由")
    assignment, event = lock_assignment(session, assignment_id)
    authorize(
        actor,
        Action.REQUEST_EXTENSION,
        assignment=assignment_scope(session, assignment, event),
    )
    if assignment.status not in EXTENDABLE:
        raise _not_live(assignment)
    if assignment.handle_by is None:
        raise Conflict("该任务没有办结时限，无需申请延期", code="no_deadline")
    if as_utc(assignment.handle_by) <= now:
        raise Conflict(
            f"办结时限（{beijing_text(assignment.handle_by)}）已过，不能再申请延期",
            code="deadline_passed",
        )
    if _pending(session, assignment_id) is not None:
        raise Conflict("该任务已有一项延期申请待审批，请等待审批结果", code="extension_pending")
    limit, granted = _limit(session, event), granted_total(session, assignment_id)
    if granted + days > limit:
        raise _beyond_limit(limit, granted, days)
    assert event.id is not None
    request = ExtensionRequest(
        event_id=event.id,
        assignment_id=assignment_id,
        working_days=days,
        reason=reason,
        requested_by_id=user.id,
        requested_at=now,
        handle_by_before=assignment.handle_by,
    )
    session.add(request)
    session.flush()
    name = department_name(session, assignment.department_id)
    add_step(
        session,
        event,
        action="extension_requested",
        actor=user,
        assignment=assignment,
        from_org=name,
        to_org=COMMAND_CENTRE,
        reason=f"{name} 申请延期 {days} 个工作日：{reason}",
        data={"extension_id": request.id, "working_days": days},
        at=now,
    )
    return request


def _lock_request(session: Session, request_id: int) -> tuple[ExtensionRequest, Assignment, Event]:
    found = session.get(ExtensionRequest, request_id)
    if found is None:
        raise NotFound(f"延期申请 {request_id} 不存在", field="extension_id")
    assignment, event = lock_assignment(session, found.assignment_id)
    request = session.exec(
        select(ExtensionRequest)
        .where(ExtensionRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return request, assignment, event


def lapsed_refusal() -> Conflict:
    """Say that a decision came too late: the request lapsed instead (已失效)."""
    return Conflict(
        "延期申请已失效：审批前任务的办结时限已过，不能再批准或不批准",
        code="extension_lapsed",
        extra={"status": ExtensionStatus.LAPSED.value},
    )


def decide_extension(
    session: Session,
    actor: Actor,
    user: User,
    request_id: int,
    *,
    approve: bool,
    calendar: WorkCalendar,
    note: str | None,
    working_days: int | None = None,
    now: datetime | None = None,
) -> ExtensionRequest:
    """Approve (optionally fewer days) or refuse a pending request (审批延期).

    A request whose part's deadline passed before the decision lapses instead: it comes
    back with status lapsed, and the caller answers `lapsed_refusal` once that is saved.
    """
    now = now or utcnow()
    authorize(actor, Action.DECIDE_EXTENSION)
    note = required_text(note, "note", "审批意见" if approve else "不予批准的理由")
    request, assignment, event = _lock_request(session, request_id)
    if request.status != ExtensionStatus.PENDING:
        raise Conflict(
            f"延期申请当前状态为「{EXTENSION_LABELS[ExtensionStatus(request.status)]}」，"
            "不能再审批",
            code="status_conflict",
            extra={"status": str(request.status)},
        )
    days = request.working_days
    if approve and working_days is not None:
        days = _working_days(working_days, "working_days", most=request.working_days)
    if assignment.status not in EXTENDABLE:
        lapse_request(session, request, assignment, event, now=now, why="任务已不在办理中")
        return request
    if assignment.handle_by is None or as_utc(assignment.handle_by) <= now:
        lapse_request(session, request, assignment, event, now=now, why="审批前办结时限已过")
        return request
    name = department_name(session, assignment.department_id)
    request.decided_by_id, request.decided_at, request.decision_note = user.id, now, note
    if not approve:
        request.status = ExtensionStatus.REFUSED
        request.granted_days = 0
        session.add(request)
        add_step(
            session,
            event,
            action="extension_refused",
            actor=user,
            assignment=assignment,
            from_org=COMMAND_CENTRE,
            to_org=name,
            reason=f"不予延期（申请 {request.working_days} 个工作日）：{note}",
            data={"extension_id": request.id},
            at=now,
        )
        return request
    limit, granted = _limit(session, event), granted_total(session, assignment.id or 0)
    if granted + days > limit:
        raise _beyond_limit(limit, granted, days)
    before = as_utc(assignment.handle_by)
    after = calendar.add_working_days(before, days)
    request.status = ExtensionStatus.APPROVED
    request.granted_days = days
    request.handle_by_before, request.handle_by_after = before, after
    session.add(request)
    _move_deadline(session, assignment, event, before, after, now)
    add_step(
        session,
        event,
        action="extension_approved",
        actor=user,
        assignment=assignment,
        from_org=COMMAND_CENTRE,
        to_org=name,
        reason=(
            f"批准延期 {days} 个工作日（申请 {request.working_days} 个），办结时限由 "
            f"{beijing_text(before)} 延至 {beijing_text(after)}：{note}"
        ),
        data={
            "extension_id": request.id,
            "granted_days": days,
            "handle_by_before": before.isoformat(),
            "handle_by_after": after.isoformat(),
        },
        at=now,
    )
    return request


def _move_deadline(
    session: Session,
    assignment: Assignment,
    event: Event,
    before: datetime,
    after: datetime,
    now: datetime,
) -> None:
    """Move the part's deadline and its warning; the event's too when it mirrors the lead's."""
    assignment.handle_by = after
    # The warning counts from the part's start to its deadline: with the new deadline it may
    # fall back (a red part overdue no longer), so the scheduler warns again when it is due.
    assignment.handle_alert = min(
        assignment.handle_alert, alert_level(assignment.created_at, after, now)
    )
    session.add(assignment)
    if (
        assignment.role == AssignmentRole.LEAD
        and event.handle_by is not None
        and as_utc(event.handle_by) == before
    ):
        event.handle_by = after
        event.updated_at = now
        session.add(event)


# ---- Lapsing -----------------------------------------------------------------------------


def lapse_overdue_requests(
    session: Session, *, now: datetime | None = None, limit: int | None = None
) -> list[int]:
    """Lapse every pending request whose part's deadline has passed; return their ids.

    Set-based: one query of the requests due with their parts, both locked, skipping those a
    decision holds (it sees the request lapsed once this commits); one UPDATE by primary key
    and one multi-row INSERT of the steps. With a limit, at most that many.
    """
    now = now or utcnow()
    due = (
        select_columns(
            col(ExtensionRequest.id),
            col(ExtensionRequest.event_id),
            col(ExtensionRequest.assignment_id),
            col(ExtensionRequest.working_days),
            col(Assignment.department_id),
        )
        .join(Assignment, col(Assignment.id) == ExtensionRequest.assignment_id)
        .where(
            col(ExtensionRequest.status) == ExtensionStatus.PENDING,
            # A pending request's part is live (the loop lapses it when the part stops being);
            # the due key, never after the deadline, lets the handling index find them.
            live("handle"),
            key_reached("handle", session.get_bind().dialect.name, now),
            col(Assignment.handle_by) <= now,
        )
        .with_for_update(of=(ExtensionRequest, Assignment), skip_locked=True)
    )
    if limit is not None:
        due = due.limit(limit)
    rows = sorted(session.execute(due).all())  # no ORDER BY: see supervision.rules
    if not rows:
        return []
    session.execute(
        update(ExtensionRequest),
        [{"id": row.id, "status": ExtensionStatus.LAPSED, "decided_at": now} for row in rows],
    )
    events = events_by_id(session, (row.event_id for row in rows))
    names = department_names(session, (row.department_id for row in rows))
    add_system_steps(
        session,
        [
            (
                events[row.event_id],
                {
                    "action": "extension_lapsed",
                    "assignment_id": row.assignment_id,
                    "to_org": names.get(row.department_id, str(row.department_id)),
                    "reason": lapse_reason(row.working_days, "审批前办结时限已过"),
                    "data": {"extension_id": row.id},
                },
            )
            for row in rows
        ],
        at=now,
    )
    return [row.id for row in rows]


# ---- Reading -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a part stands for an extension: its deadline, time left, what the limit leaves."""

    assignment_id: int
    handle_by: datetime | None
    working_days_left: float | None
    limit_days: int
    granted_days: int
    grantable_days: int
    may_request: bool
    pending_id: int | None


def working_days_left(calendar: WorkCalendar, handle_by: datetime | None, now: datetime) -> float:
    """Return the working days from now to the deadline, to a tenth; negative once overdue."""
    if handle_by is None:
        return 0.0
    left = calendar.working_time_between(now, as_utc(handle_by))
    return round(left / _DAY, 1)


def standing(
    session: Session,
    calendar: WorkCalendar,
    assignment: Assignment,
    event: Event,
    *,
    now: datetime | None = None,
) -> Standing:
    """Describe a part's extension standing (for the request form)."""
    now = now or utcnow()
    assert assignment.id is not None
    limit, granted = _limit(session, event), granted_total(session, assignment.id)
    pending = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.assignment_id == assignment.id,
            ExtensionRequest.status == ExtensionStatus.PENDING,
        )
    ).first()
    live = assignment.status in EXTENDABLE and assignment.handle_by is not None
    before_deadline = live and as_utc(assignment.handle_by or now) > now
    return Standing(
        assignment_id=assignment.id,
        handle_by=assignment.handle_by,
        working_days_left=(
            working_days_left(calendar, assignment.handle_by, now) if live else None
        ),
        limit_days=limit,
        granted_days=granted,
        grantable_days=max(limit - granted, 0),
        may_request=bool(before_deadline and pending is None and granted < limit),
        pending_id=pending,
    )


def part_standing(
    session: Session, actor: Actor, calendar: WorkCalendar, assignment_id: int
) -> Standing:
    """Return a part's standing for someone who may ask for its extension."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    event = session.get(Event, assignment.event_id)
    assert event is not None
    authorize(
        actor,
        Action.REQUEST_EXTENSION,
        assignment=assignment_scope(session, assignment, event),
    )
    return standing(session, calendar, assignment, event)


def visible_departments(session: Session, actor: Actor) -> frozenset[int] | None:
    """Return the departments whose requests the user may read; None is every one.

    The centre and the staffing office read all; a department its own and its units';
    a township operator its platform's. Anyone else is refused.
    """
    if actor.role in CENTRE_ROLES or actor.role is UserRole.STAFFING_OFFICE:
        return None
    if actor.role is UserRole.DEPARTMENT_STAFF and actor.department_ids:
        return actor.department_ids
    if actor.role is UserRole.TOWNSHIP_OPERATOR and actor.township_code:
        platforms = session.exec(
            select(Department.id).where(
                Department.kind == DepartmentKind.TOWNSHIP_PLATFORM,
                Department.township_code == actor.township_code,
            )
        ).all()
        return frozenset(p for p in platforms if p is not None)
    raise Forbidden("仅县社会治理中心、县委编办、任务所属部门和乡镇指挥室可以查看延期申请")


def list_requests(
    session: Session,
    actor: Actor,
    *,
    status: ExtensionStatus | None = None,
    limit: int = 200,
) -> list[tuple[ExtensionRequest, Assignment, Event]]:
    """Return the requests the user may read, newest first."""
    departments = visible_departments(session, actor)
    query = (
        select(ExtensionRequest, Assignment, Event)
        .join(Assignment, col(Assignment.id) == ExtensionRequest.assignment_id)
        .join(Event, col(Event.id) == ExtensionRequest.event_id)
        .order_by(col(ExtensionRequest.id).desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(ExtensionRequest.status == status)
    if departments is not None:
        query = query.where(col(Assignment.department_id).in_(departments))
    return [(r, a, e) for r, a, e in session.exec(query).all()]


def get_request(
    session: Session, actor: Actor, request_id: int
) -> tuple[ExtensionRequest, Assignment, Event]:
    """Return one request the user may read, or raise NotFound / Forbidden."""
    departments = visible_departments(session, actor)
    request = session.get(ExtensionRequest, request_id)
    if request is None:
        raise NotFound(f"延期申请 {request_id} 不存在", field="extension_id")
    assignment = session.get(Assignment, request.assignment_id)
    event = session.get(Event, request.event_id)
    assert assignment is not None and event is not None
    if departments is not None and assignment.department_id not in departments:
        raise Forbidden("不能查看其他部门任务的延期申请")
    return request, assignment, event
