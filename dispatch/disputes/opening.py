"""Opening a dispute (争议): by itself when returns contest who owns an event, or by hand.

A dispute opens when the lead part has been returned a second time (across rounds), or when
two different agencies (a county department with its stationed units counts once) have
returned parts of the same event. Only returns since the event's last ruling count: a
ruling settles what came before it. While a dispute is open, every further return joins it
as one more party. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import Conflict, InvalidInput
from dispatch.disputes.models import Dispute, DisputeParty, DisputeStatus, DisputeTrigger
from dispatch.events.lifecycle import EVENT_LABELS, HANDLING
from dispatch.events.models import Assignment, AssignmentRole, Event, Step
from dispatch.events.scopes import event_scope
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step
from dispatch.reference.models import Department, DepartmentKind
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize

COMMAND_CENTRE = "县社会治理中心"
OPEN_STEP = "dispute_open"
RULE_STEP = "dispute_rule"
TRIGGER_LABELS: dict[DisputeTrigger, str] = {
    DisputeTrigger.SECOND_RETURN: "牵头任务第二次被退回",
    DisputeTrigger.TWO_DEPARTMENTS: "两个部门先后退回",
    DisputeTrigger.MANUAL: "县社会治理中心发起",
}
STATUS_LABELS: dict[DisputeStatus, str] = {
    DisputeStatus.OPEN: "待裁定",
    DisputeStatus.RULED: "已裁定",
}


def agency_id(department: Department) -> int:
    """Return the county department a stationed unit belongs to, or the department itself."""
    assert department.id is not None
    if department.kind == DepartmentKind.STATIONED_UNIT and department.parent_id is not None:
        return department.parent_id
    return department.id


def open_dispute_of(session: Session, event_id: int) -> Dispute | None:
    """Return the event's open dispute, locked, if it has one."""
    return session.exec(
        select(Dispute)
        .where(Dispute.event_id == event_id, Dispute.status == DisputeStatus.OPEN)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _returns_since_ruling(session: Session, event: Event) -> list[tuple[Step, Assignment]]:
    """Return the event's return steps since its last ruling, oldest first, with their parts."""
    last_rule = session.exec(
        select(Step.id)
        .where(Step.event_id == event.id, Step.action == RULE_STEP)
        .order_by(col(Step.id).desc())
        .limit(1)
    ).first()
    query = (
        select(Step, Assignment)
        .join(Assignment, col(Assignment.id) == Step.assignment_id)
        .where(Step.event_id == event.id, Step.action == "return")
        .order_by(col(Step.id))
    )
    if last_rule is not None:
        query = query.where(col(Step.id) > last_rule)
    return [(step, part) for step, part in session.exec(query).all()]


def _add_parties(
    session: Session, dispute: Dispute, returns: list[tuple[Step, Assignment]]
) -> None:
    """Record each returned part as a party; a part returned again keeps its latest return."""
    assert dispute.id is not None
    latest: dict[int, tuple[Step, Assignment]] = {}
    for step, part in returns:
        assert part.id is not None
        latest[part.id] = (step, part)
    for assignment_id, (step, part) in latest.items():
        data = step.data or {}
        cited = data.get("cited")
        clause_code = cited.get("code") if isinstance(cited, dict) else None
        clause = data.get("clause")
        party = session.get(DisputeParty, (dispute.id, assignment_id))
        if party is None:
            party = DisputeParty(
                dispute_id=dispute.id,
                assignment_id=assignment_id,
                department_id=part.department_id,
                role=part.role.value if isinstance(part.role, AssignmentRole) else str(part.role),
            )
        party.return_reason = step.reason
        party.return_clause = clause if isinstance(clause, str) else part.return_clause
        party.clause_code = clause_code if isinstance(clause_code, str) else None
        party.returned_at = step.at
        session.add(party)
    session.flush()


def contested(session: Session, returns: list[tuple[Step, Assignment]]) -> DisputeTrigger | None:
    """Tell whether these returns open a dispute, and why."""
    lead_returns = sum(1 for _, part in returns if part.role == AssignmentRole.LEAD)
    if lead_returns >= 2:
        return DisputeTrigger.SECOND_RETURN
    agencies = set()
    for _, part in returns:
        department = session.get(Department, part.department_id)
        if department is not None:
            agencies.add(agency_id(department))
    if len(agencies) >= 2:
        return DisputeTrigger.TWO_DEPARTMENTS
    return None


def after_return(
    session: Session, event: Event, *, user: User | None, now: datetime | None = None
) -> Dispute | None:
    """After a return is recorded: join the open dispute, or open one if the returns contest.

    The caller holds the event's lock, so two returns at once open one dispute, not two.
    """
    now = now or utcnow()
    session.flush()
    returns = _returns_since_ruling(session, event)
    dispute = open_dispute_of(session, event.id or 0)
    if dispute is not None:
        _add_parties(session, dispute, returns)
        return dispute
    trigger = contested(session, returns)
    if trigger is None:
        return None
    return _open(session, event, trigger=trigger, user=user, reason=None, returns=returns, now=now)


def _open(
    session: Session,
    event: Event,
    *,
    trigger: DisputeTrigger,
    user: User | None,
    reason: str | None,
    returns: list[tuple[Step, Assignment]],
    now: datetime,
) -> Dispute:
    assert event.id is not None
    dispute = Dispute(
        event_id=event.id,
        trigger=trigger,
        reason=reason,
        matter_code=event.matter_code,
        matter_list_id=event.matter_list_id,
        opened_by_id=user.id if user is not None else None,
        opened_at=now,
    )
    session.add(dispute)
    session.flush()
    _add_parties(session, dispute, returns)
    names = sorted(
        {
            department.name
            for _, part in returns
            if (department := session.get(Department, part.department_id)) is not None
        }
    )
    why = TRIGGER_LABELS[trigger]
    if names:
        why = f"{why}（{'、'.join(names)}）"
    if reason:
        why = f"{why}：{reason}"
    add_step(
        session,
        event,
        action=OPEN_STEP,
        actor=user if trigger is DisputeTrigger.MANUAL else None,
        from_org=COMMAND_CENTRE if trigger is DisputeTrigger.MANUAL else None,
        to_org=COMMAND_CENTRE,
        reason=f"争议待裁定：{why}",
        data={"dispute_id": dispute.id, "trigger": trigger.value},
        at=now,
    )
    return dispute


def open_by_hand(
    session: Session,
    actor: Actor,
    user: User,
    event_id: int,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> Dispute:
    """The centre opens a dispute on an event being handled, with its reason."""
    now = now or utcnow()
    if reason is None or not reason.strip():
        raise InvalidInput("「发起争议的理由」为必填项", field="reason", code="field_required")
    event = lock_event(session, event_id)
    authorize(actor, Action.OPEN_DISPUTE, event=event_scope(session, event))
    if event.status not in HANDLING:
        label = EVENT_LABELS[event.status]
        raise Conflict(
            f"事件当前状态为「{label}」，不能发起争议（仅处置中的事件可以）",
            field="status",
            code="status_conflict",
            extra={"status": event.status.value, "action": "open_dispute"},
        )
    existing = open_dispute_of(session, event_id)
    if existing is not None:
        raise Conflict(
            f"该事件已有待裁定的争议（争议 {existing.id}），当前状态为「待裁定」，不能重复发起",
            field="status",
            code="dispute_open",
        )
    returns = _returns_since_ruling(session, event)
    return _open(
        session,
        event,
        trigger=DisputeTrigger.MANUAL,
        user=user,
        reason=reason.strip(),
        returns=returns,
        now=now,
    )
