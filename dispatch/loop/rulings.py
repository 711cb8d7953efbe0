"""The centre's ruling (裁定) on a dispute: who leads, who cooperates, re-dispatched at once.

One transaction locks the event, then the dispute, and refuses unless the dispute is still
open, so of two clicks one rules and the other is told it is ruled already. The lead part
goes to the ruled lead as a new round (or back to its holder, pending, if the ruling keeps
it); cooperating parts are created where missing and cancelled where the ruling leaves a
department out; the territorial part stays. A ruling may also propose a list change, which
goes to the staffing office as a pending request linked to the dispute and its event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import Conflict, InvalidInput
from dispatch.core.outbox import Handoff, outbox_of
from dispatch.disputes.changes import propose_change
from dispatch.disputes.models import Dispute, DisputeStatus, ListChangeSource
from dispatch.disputes.opening import RULE_STEP, STATUS_LABELS, agency_id
from dispatch.disputes.read import get_dispute
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.events.lifecycle import OPEN_PARTS, AssignmentAction
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step
from dispatch.loop.parts import COMMAND_CENTRE, move_assignment, new_round, required_text
from dispatch.reference.models import Department
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize

# Parts the ruling weighs: the ones still in someone's hands, or fed back.
STANDING = (*OPEN_PARTS, AssignmentStatus.FED_BACK)


def _department(session: Session, department_id: int, field: str) -> Department:
    department = session.get(Department, department_id)
    if department is None or department.id is None:
        raise InvalidInput(f"部门 {department_id} 不存在", field=field)
    return department


def _check_parties(
    session: Session, event: Event, lead: Department, co: Sequence[Department]
) -> None:
    """Refuse a ruling that would give one agency two parts (units folded into their county
    department), the territorial part included."""
    if any(c.id == lead.id for c in co):
        raise InvalidInput("牵头部门不能同时是配合部门", field="co_department_ids")
    lead_agency = agency_id(lead)
    seen: dict[int, str] = {}
    for c in co:
        agency = agency_id(c)
        if agency == lead_agency:
            raise InvalidInput(
                f"{c.name} 与牵头部门 {lead.name} 属同一单位，不能再承担配合任务",
                field="co_department_ids",
            )
        if agency in seen:
            raise InvalidInput(
                f"{c.name} 与 {seen[agency]} 属同一单位，同一单位只承担一项任务",
                field="co_department_ids",
            )
        seen[agency] = c.name
    territorial = session.exec(
        select(Department)
        .join(Assignment, col(Assignment.department_id) == Department.id)
        .where(
            Assignment.event_id == event.id,
            Assignment.role == AssignmentRole.TERRITORIAL,
            col(Assignment.status).in_(STANDING),
        )
    ).all()
    for place in territorial:
        agency = agency_id(place)
        if agency == lead_agency:
            raise InvalidInput(
                f"{lead.name} 已承担本事件的属地任务，不能再牵头", field="lead_department_id"
            )
        if agency in seen:
            raise InvalidInput(
                f"{place.name} 已承担本事件的属地任务，不能再配合", field="co_department_ids"
            )


def _agency(session: Session, part: Assignment) -> int:
    holder = session.get(Department, part.department_id)
    return agency_id(holder) if holder is not None else part.department_id


def _dispatch(
    session: Session,
    event: Event,
    user: User,
    *,
    department: Department,
    role: AssignmentRole,
    like: Assignment | None,
    minutes_ref: str,
    now: datetime,
) -> Assignment:
    fresh = new_round(
        session,
        event,
        department=department,
        role=role,
        like=like,
        sign_by=like.sign_by if like else event.sign_by,
        handle_by=like.handle_by if like else event.handle_by,
        now=now,
    )
    label = "牵头" if role is AssignmentRole.LEAD else "协办"
    add_step(
        session,
        event,
        action="dispatch",
        actor=user,
        assignment=fresh,
        from_org=COMMAND_CENTRE,
        to_org=department.name,
        to_status=fresh.status,
        reason=f"依裁定（{minutes_ref}）派单，{label}: {department.name}",
        at=now,
    )
    return fresh


def rule(
    session: Session,
    actor: Actor,
    user: User,
    dispute_id: int,
    *,
    lead_department_id: int,
    co_department_ids: Sequence[int],
    minutes_ref: str | None,
    reasoning: str | None,
    list_change: ListChangeProposal | None = None,
    now: datetime | None = None,
) -> Dispute:
    """Rule a dispute and re-dispatch its event accordingly, all in the caller's transaction."""
    now = now or utcnow()
    authorize(actor, Action.RULE_DISPUTE)
    minutes_ref = required_text(minutes_ref, "minutes_ref", "纪要号")
    reasoning = required_text(reasoning, "reasoning", "裁定理由")
    found = get_dispute(session, dispute_id)
    event = lock_event(session, found.event_id)
    dispute = session.exec(
        select(Dispute)
        .where(Dispute.id == dispute_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if dispute.status != DisputeStatus.OPEN:
        raise Conflict(
            f"争议当前状态为「{STATUS_LABELS[DisputeStatus(dispute.status)]}」，不能再次裁定",
            field="status",
            code="status_conflict",
            extra={"status": dispute.status.value, "action": "rule_dispute"},
        )
    lead = _department(session, lead_department_id, "lead_department_id")
    co = [_department(session, i, "co_department_ids") for i in dict.fromkeys(co_department_ids)]
    _check_parties(session, event, lead, co)

    parts = list(
        session.exec(
            select(Assignment)
            .where(Assignment.event_id == event.id, col(Assignment.status).in_(STANDING))
            .order_by(col(Assignment.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )
    names = {d.id: d.name for d in [lead, *co]}

    def name_of(part: Assignment) -> str:
        if part.department_id not in names:
            holder = session.get(Department, part.department_id)
            names[part.department_id] = holder.name if holder else str(part.department_id)
        return names[part.department_id]

    why = f"依裁定（{minutes_ref}）"
    created: list[Assignment] = []
    leads = [p for p in parts if p.role == AssignmentRole.LEAD]
    kept_lead = next((p for p in leads if p.department_id == lead.id), None)
    last_lead = leads[-1] if leads else None
    for part in leads:
        if part is kept_lead:
            continue
        action = (
            AssignmentAction.REDISPATCH
            if part.status == AssignmentStatus.RETURNED
            else AssignmentAction.CANCEL
        )
        move_assignment(
            session,
            event,
            part,
            action,
            user=user,
            now=now,
            from_org=name_of(part),
            to_org=lead.name,
            reason=f"{why}改由 {lead.name} 牵头",
        )
    if kept_lead is not None:
        if kept_lead.status == AssignmentStatus.RETURNED:
            move_assignment(
                session,
                event,
                kept_lead,
                AssignmentAction.REFUSE_RETURN,
                user=user,
                now=now,
                from_org=COMMAND_CENTRE,
                to_org=lead.name,
                reason=f"{why}仍由 {lead.name} 牵头",
            )
    else:
        created.append(
            _dispatch(
                session,
                event,
                user,
                department=lead,
                role=AssignmentRole.LEAD,
                like=last_lead,
                minutes_ref=minutes_ref,
                now=now,
            )
        )

    ruled_co = {c.id for c in co}
    ruled = {agency_id(d) for d in (lead, *co)}
    held: set[int] = set()
    for part in (p for p in parts if p.role == AssignmentRole.CO):
        if part.department_id in ruled_co and part.department_id not in held:
            held.add(part.department_id)
            if part.status == AssignmentStatus.RETURNED:
                move_assignment(
                    session,
                    event,
                    part,
                    AssignmentAction.REFUSE_RETURN,
                    user=user,
                    now=now,
                    from_org=COMMAND_CENTRE,
                    to_org=name_of(part),
                    reason=f"{why}由 {name_of(part)} 配合",
                )
            continue
        if part.status == AssignmentStatus.FED_BACK and _agency(session, part) not in ruled:
            continue  # work already reported stays, unless its agency now holds another part
        move_assignment(
            session,
            event,
            part,
            AssignmentAction.CANCEL,
            user=user,
            now=now,
            from_org=name_of(part),
            to_org=COMMAND_CENTRE,
            reason=f"{why}{name_of(part)} 不再承担配合任务",
        )
    like_co = next((p for p in parts if p.role == AssignmentRole.CO), None)
    for department in co:
        if department.id in held:
            continue
        created.append(
            _dispatch(
                session,
                event,
                user,
                department=department,
                role=AssignmentRole.CO,
                like=like_co,
                minutes_ref=minutes_ref,
                now=now,
            )
        )

    dispute.status = DisputeStatus.RULED
    dispute.ruled_by_id = user.id
    dispute.ruled_at = now
    dispute.minutes_ref = minutes_ref
    dispute.reasoning = reasoning
    dispute.lead_department_id = lead.id
    dispute.co_department_ids = [c.id for c in co if c.id is not None]
    session.add(dispute)
    co_names = "、".join(c.name for c in co) or "无"
    add_step(
        session,
        event,
        action=RULE_STEP,
        actor=user,
        from_org=COMMAND_CENTRE,
        reason=f"裁定（{minutes_ref}）：牵头 {lead.name}，配合 {co_names}。{reasoning}",
        data={
            "dispute_id": dispute.id,
            "minutes_ref": minutes_ref,
            "lead_department_id": lead.id,
            "co_department_ids": dispute.co_department_ids,
        },
        at=now,
    )
    if list_change is not None:
        assert dispute.id is not None and event.id is not None
        propose_change(
            session,
            user,
            list_change,
            county_code=event.county_code or "",
            source=ListChangeSource.RULING,
            dispute_id=dispute.id,
            extra_event_ids=[event.id],
            now=now,
        )
    session.flush()
    if created:
        outbox_of(session).hand_off(Handoff.DELIVERY, [a.id for a in created if a.id is not None])
    return dispute
