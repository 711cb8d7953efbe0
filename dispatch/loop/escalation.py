"""乡呼县应: a township calls the county in on a part it cannot handle, the centre answers.

A township operator escalates its platform's own open part (the lead of a matter the township
handles itself, or its territorial part) with a reason; the county's response is timed from
the call (respond_by = called_at + the county's escalation_sign_hours). The command centre
answers by naming a county department, or by the list (the lead of the event's matter in the
list version that routed it): the township's part is cancelled and the department gets a new
part of the same weight (lead for lead, else co) whose sign_by is respond_by. When that part
is signed the escalation records responded_at (assignments.sign). None of this commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from dispatch.core.clock import as_utc, beijing_text, utcnow
from dispatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.events.lifecycle import ASSIGNMENT_LABELS, AssignmentAction
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Escalation,
    EscalationStatus,
    Event,
)
from dispatch.events.scopes import assignment_scope, event_scope
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step
from dispatch.loop.assignments import same_agency_parts
from dispatch.loop.clauses import routing_rules
from dispatch.loop.dispatching import deadlines
from dispatch.loop.parts import (
    COMMAND_CENTRE,
    department_name,
    move_assignment,
    new_round,
    required_text,
)
from dispatch.reference.calendar import WorkCalendar
from dispatch.reference.county_rules import county_settings
from dispatch.reference.jurisdictions import jurisdiction_name
from dispatch.reference.models import Department, DepartmentCoverage, DepartmentKind
from dispatch.routing.decide import time_limits
from dispatch.users.models import User, UserRole
from dispatch.users.policy import CENTRE_ROLES, Action, Actor, AssignmentScope, authorize

# A township may escalate only what is still in its hands: not yet fed back, not returned.
ESCALATABLE = (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
STATUS_LABELS = {EscalationStatus.WAITING: "待响应", EscalationStatus.ANSWERED: "已响应"}


class EscalationPublic(BaseModel):
    """One 乡呼县应 as the centre, the township and the staffing office read it."""

    id: int
    event_id: int
    assignment_id: int = Field(description="乡镇被呼叫移交的任务")
    role: str = Field(description="该任务的角色：牵头或属地")
    township_code: str | None
    township_name: str | None
    reason: str = Field(description="乡呼理由")
    status: EscalationStatus
    called_at: datetime = Field(description="呼叫时间")
    called_by: str | None = Field(description="呼叫人")
    respond_by: datetime | None = Field(description="县级部门应签收的时限")
    answered_at: datetime | None
    answered_by: str | None
    department_id: int | None = Field(description="响应的县级部门")
    department_name: str | None
    response_assignment_id: int | None = Field(description="交给县级部门的新任务")
    responded_at: datetime | None = Field(description="县级部门签收的时间")
    response_minutes: int | None = Field(description="自呼叫至签收的分钟数")
    on_time: bool | None = Field(description="是否在时限内签收")
    event_description: str | None = None
    matter_code: str | None = None


class EscalationsPublic(BaseModel):
    """Escalations, newest call first."""

    data: list[EscalationPublic]
    count: int


# ---- 乡呼: the township calls ------------------------------------------------------------


def _own_part(session: Session, actor: Actor, event: Event) -> Assignment:
    """Return the township's open platform part on the event, or raise naming why there is none."""
    rows = session.exec(
        select(Assignment, Department)
        .join(Department, col(Department.id) == Assignment.department_id)
        .where(
            Assignment.event_id == event.id,
            Department.kind == DepartmentKind.TOWNSHIP_PLATFORM,
            Department.township_code == actor.township_code,
            Assignment.status != AssignmentStatus.CANCELLED,
        )
        .order_by(col(Assignment.id).desc())
    ).all()
    if not rows:
        raise Conflict(
            "本乡镇平台在该事件中没有任务，无法乡呼县应", field="event_id", code="no_platform_part"
        )
    open_parts = [part for part, _ in rows if part.status in ESCALATABLE]
    if not open_parts:
        status = AssignmentStatus(rows[0][0].status)
        raise Conflict(
            f"本乡镇平台的任务当前状态为「{ASSIGNMENT_LABELS[status]}」，不能乡呼县应",
            field="status",
            code="status_conflict",
            extra={"status": status.value},
        )
    lead = [p for p in open_parts if p.role == AssignmentRole.LEAD]
    return (lead or open_parts)[0]


def escalate(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Escalation:
    """Call the county in (乡呼) on the township's own open platform part of the event."""
    now = now or utcnow()
    reason = required_text(reason, "reason", "乡呼理由")
    if actor.role is not UserRole.TOWNSHIP_OPERATOR:
        authorize(actor, Action.ESCALATE, assignment=_any_scope(actor))
    event = lock_event(session, event_id)
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    part = _own_part(session, actor, event)
    part = session.exec(select(Assignment).where(Assignment.id == part.id).with_for_update()).one()
    authorize(actor, Action.ESCALATE, assignment=assignment_scope(session, part, event))
    waiting = session.exec(
        select(Escalation).where(
            Escalation.assignment_id == part.id, Escalation.status == EscalationStatus.WAITING
        )
    ).first()
    if waiting is not None:
        raise Conflict(
            f"该任务已于 {beijing_text(waiting.called_at)} 乡呼县应，当前状态为「待响应」，"
            "请等待县社会治理中心响应",
            field="status",
            code="escalation_waiting",
            extra={"status": EscalationStatus.WAITING.value},
        )
    hours = county_settings(session, event.county_code).escalation_sign_hours
    assert part.id is not None
    escalation = Escalation(
        event_id=event_id,
        assignment_id=part.id,
        township_code=actor.township_code,
        reason=reason,
        called_by_id=user.id,
        called_at=now,
        respond_by=now + timedelta(hours=hours),
    )
    session.add(escalation)
    session.flush()
    platform = department_name(session, part.department_id)
    add_step(
        session,
        event,
        action="escalate",
        actor=user,
        assignment=part,
        from_org=platform,
        to_org=COMMAND_CENTRE,
        reason=f"乡呼县应：{reason}（请于 {beijing_text(escalation.respond_by or now)} 前响应）",
        data={"escalation_id": escalation.id},
        at=now,
    )
    return escalation


def _any_scope(actor: Actor) -> AssignmentScope:
    """A scope for refusing a role that never escalates (the rule looks at the role first)."""
    return AssignmentScope(department_id=-1, township_code=actor.township_code, role="lead")


# ---- 县应: the centre answers ------------------------------------------------------------


def lock_escalation(session: Session, escalation_id: int) -> Escalation:
    """Return the escalation read afresh and locked, or raise NotFound."""
    found = session.exec(
        select(Escalation)
        .where(Escalation.id == escalation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise NotFound(f"乡呼 {escalation_id} 不存在", field="escalation_id")
    return found


def list_lead(session: Session, event: Event) -> Department:
    """Return the county department the routing list names as the lead of the event's matter."""
    rules = routing_rules(session, event)
    matter = rules.get(event.matter_code or "")
    if matter is None or matter.lead_department_id is None:
        raise InvalidInput(
            f"清单第 {rules.version} 版未列明该事项的牵头部门，请指定县级部门",
            field="by_list",
            code="no_list_lead",
        )
    department = session.get(Department, matter.lead_department_id)
    if department is None or department.kind == DepartmentKind.TOWNSHIP_PLATFORM:
        raise InvalidInput(
            f"清单第 {rules.version} 版中该事项没有可承接的县级部门，请指定县级部门",
            field="by_list",
            code="no_list_lead",
        )
    if department.kind == DepartmentKind.COUNTY_DEPARTMENT and event.township_code:
        # As routing does: the department's unit stationed in the township is the one on the spot.
        unit = session.exec(
            select(Department)
            .join(DepartmentCoverage, col(DepartmentCoverage.department_id) == Department.id)
            .where(
                Department.parent_id == department.id,
                Department.kind == DepartmentKind.STATIONED_UNIT,
                DepartmentCoverage.township_code == event.township_code,
            )
            .order_by(col(Department.id))
        ).first()
        if unit is not None:
            return unit
    return department


def answer(
    session: Session,
    actor: Actor,
    user: User,
    calendar: WorkCalendar,
    escalation_id: int,
    *,
    department_id: int | None = None,
    by_list: bool = False,
    now: datetime | None = None,
) -> Escalation:
    """Answer a township's call (县应): hand its part to a county department.

    The department's agency must not already hold another part of the event: for a lead part
    its other parts are folded in (cancelled, as re-dispatch does); for a territorial part the
    answer is refused (409), since the agency already works on the event.
    """
    now = now or utcnow()
    authorize(actor, Action.ANSWER_ESCALATION)
    if (department_id is None) == (not by_list):
        raise InvalidInput(
            "请指定承接的县级部门，或选择按清单分派（二者选一）",
            field="department_id",
            code="department_or_list",
        )
    found = session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound(f"乡呼 {escalation_id} 不存在", field="escalation_id")
    event = lock_event(session, found.event_id)  # the event first, as every transition does
    escalation = lock_escalation(session, escalation_id)
    if escalation.status != EscalationStatus.WAITING:
        status = EscalationStatus(escalation.status)
        raise Conflict(
            f"该乡呼当前状态为「{STATUS_LABELS[status]}」，不能再次响应",
            field="status",
            code="status_conflict",
            extra={"status": status.value},
        )
    part = session.exec(
        select(Assignment)
        .where(Assignment.id == escalation.assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if part.status not in ESCALATABLE:
        held = AssignmentStatus(part.status)
        raise Conflict(
            f"乡镇的任务当前状态为「{ASSIGNMENT_LABELS[held]}」，不能再移交县级部门",
            field="status",
            code="status_conflict",
            extra={"status": held.value},
        )
    target = list_lead(session, event) if by_list else _department(session, department_id)
    assert target.id is not None
    role = AssignmentRole.LEAD if part.role == AssignmentRole.LEAD else AssignmentRole.CO
    same = same_agency_parts(session, part, target)
    if same and role != AssignmentRole.LEAD:
        holder = department_name(session, same[0].department_id)
        raise Conflict(
            f"「{target.name}」已通过「{holder}」承担本事件的任务，不能再承担第二项，请另选部门",
            field="department_id",
            code="same_agency",
        )
    township = department_name(session, part.department_id)
    move_assignment(
        session,
        event,
        part,
        AssignmentAction.CANCEL,
        user=user,
        now=now,
        from_org=township,
        to_org=target.name,
        reason=f"乡呼县应：移交 {target.name} 承办",
        data={"escalation_id": escalation.id},
    )
    fresh = _new_part(session, event, part, target, role, calendar, escalation, now)
    for other in same:
        move_assignment(
            session,
            event,
            other,
            AssignmentAction.CANCEL,
            user=user,
            now=now,
            from_org=department_name(session, other.department_id),
            to_org=target.name,
            reason=f"并入牵头任务：乡呼县应由 {target.name} 牵头，同一单位不重复承担",
        )
    escalation.status = EscalationStatus.ANSWERED
    escalation.answered_at, escalation.answered_by_id = now, user.id
    escalation.department_id, escalation.response_assignment_id = target.id, fresh.id
    session.add(escalation)
    how = "按清单分派" if by_list else "指定部门"
    add_step(
        session,
        event,
        action="answer_escalation",
        actor=user,
        assignment=fresh,
        from_org=COMMAND_CENTRE,
        to_org=target.name,
        to_status=fresh.status,
        reason=f"县应（{how}）：交 {target.name} 承办，"
        f"请于 {beijing_text(fresh.sign_by or now)} 前签收",
        data={"escalation_id": escalation.id, "by_list": by_list},
        at=now,
    )
    assert fresh.id is not None
    outbox_of(session).hand_off(Handoff.DELIVERY, [fresh.id])
    return escalation


def _department(session: Session, department_id: int | None) -> Department:
    target = session.get(Department, department_id) if department_id is not None else None
    if target is None:
        raise InvalidInput(f"部门 {department_id} 不存在", field="department_id")
    if target.kind == DepartmentKind.TOWNSHIP_PLATFORM:
        raise InvalidInput(
            f"「{target.name}」是乡镇平台，乡呼县应须由县级部门或其派驻机构响应",
            field="department_id",
            code="not_county",
        )
    return target


def _new_part(
    session: Session,
    event: Event,
    part: Assignment,
    target: Department,
    role: AssignmentRole,
    calendar: WorkCalendar,
    escalation: Escalation,
    now: datetime,
) -> Assignment:
    """Create the county department's part: signed by respond_by, handled by the matter's limit."""
    handle_by = part.handle_by
    matter = routing_rules(session, event).get(event.matter_code or "")
    if matter is not None:
        _, computed = deadlines(calendar, now, time_limits(matter, urgent=event.urgent))
        handle_by = computed or handle_by
    return new_round(
        session,
        event,
        department=target,
        role=role,
        like=part,
        sign_by=escalation.respond_by,
        handle_by=handle_by,
        now=now,
    )


# ---- Reading ------------------------------------------------------------------------------


def _visible_township(actor: Actor) -> str | None:
    """Return the township whose escalations the actor reads ("" for all), or raise Forbidden."""
    if actor.role in CENTRE_ROLES or actor.role is UserRole.STAFFING_OFFICE:
        return None
    if actor.role is UserRole.TOWNSHIP_OPERATOR and actor.township_code:
        return actor.township_code
    raise Forbidden("仅县社会治理中心、县委编办和乡镇指挥室（本乡镇）可查看乡呼县应")


def list_escalations(
    session: Session,
    actor: Actor,
    *,
    status: EscalationStatus | None = None,
    event_id: int | None = None,
    limit: int = 200,
) -> EscalationsPublic:
    """List the escalations the actor may read, newest call first."""
    township = _visible_township(actor)
    query = select(Escalation)
    if township is not None:
        query = query.where(Escalation.township_code == township)
    if status is not None:
        query = query.where(Escalation.status == status)
    if event_id is not None:
        query = query.where(Escalation.event_id == event_id)
    rows = session.exec(query.order_by(col(Escalation.called_at).desc()).limit(limit)).all()
    data = [public(session, row) for row in rows]
    return EscalationsPublic(data=data, count=len(data))


def get_escalation(session: Session, actor: Actor, escalation_id: int) -> EscalationPublic:
    """Return one escalation to whoever may read it."""
    township = _visible_township(actor)
    found = session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound(f"乡呼 {escalation_id} 不存在", field="escalation_id")
    if township is not None and found.township_code != township:
        raise Forbidden("乡镇指挥室只能查看本乡镇的乡呼县应")
    return public(session, found)


def response_minutes(escalation: Escalation) -> int | None:
    """Minutes from the call to the county department's signature (None until it signs)."""
    if escalation.responded_at is None:
        return None
    elapsed = as_utc(escalation.responded_at) - as_utc(escalation.called_at)
    return int(elapsed.total_seconds() // 60)


def on_time(escalation: Escalation) -> bool | None:
    """Whether the department signed by respond_by (None until it signs)."""
    if escalation.responded_at is None or escalation.respond_by is None:
        return None
    return as_utc(escalation.responded_at) <= as_utc(escalation.respond_by)


def public(session: Session, escalation: Escalation) -> EscalationPublic:
    """Shape one escalation for the API."""
    assert escalation.id is not None
    part = session.get(Assignment, escalation.assignment_id)
    event = session.get(Event, escalation.event_id)
    return EscalationPublic(
        id=escalation.id,
        event_id=escalation.event_id,
        assignment_id=escalation.assignment_id,
        role=part.role if part is not None else "",
        township_code=escalation.township_code,
        township_name=jurisdiction_name(session, escalation.township_code),
        reason=escalation.reason,
        status=escalation.status,
        called_at=escalation.called_at,
        called_by=_user_name(session, escalation.called_by_id),
        respond_by=escalation.respond_by,
        answered_at=escalation.answered_at,
        answered_by=_user_name(session, escalation.answered_by_id),
        department_id=escalation.department_id,
        department_name=(
            department_name(session, escalation.department_id)
            if escalation.department_id is not None
            else None
        ),
        response_assignment_id=escalation.response_assignment_id,
        responded_at=escalation.responded_at,
        response_minutes=response_minutes(escalation),
        on_time=on_time(escalation),
        event_description=(event.description or "")[:200] if event is not None else None,
        matter_code=event.matter_code if event is not None else None,
    )


def _user_name(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    found = session.get(User, user_id)
    return (found.display_name or found.username) if found is not None else None
