"""Reading disputes: the list the centre works through, and one dispute with all it weighs.

The centre and the staffing office read every dispute; a department reads the disputes it
(or one of its stationed units) is a party to; nobody else reads them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import Forbidden, NotFound
from dispatch.disputes.models import (
    Dispute,
    DisputeParty,
    DisputeStatus,
    DisputeTrigger,
    ListChange,
    ListChangeKind,
    ListChangeStatus,
)
from dispatch.disputes.opening import STATUS_LABELS, TRIGGER_LABELS
from dispatch.events.models import Event
from dispatch.reference.jurisdictions import jurisdiction_name
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.lists.versions import load_rules, rules_in_force
from dispatch.reference.models import Department
from dispatch.users.models import UserRole
from dispatch.users.policy import CENTRE_ROLES, Actor


class DisputePartyPublic(BaseModel):
    """One side of a dispute: a department's return, its reason and the clause it cited."""

    assignment_id: int
    department_id: int
    department_name: str = Field(description="退回的部门")
    role: str = Field(description="所退回任务的角色：lead 牵头，co 协办，territorial 属地")
    return_reason: str | None = Field(description="退回理由")
    return_clause: str | None = Field(description="援引的清单条款")
    clause_code: str | None = Field(description="援引条款的事项编码")
    returned_at: datetime | None


class ListEntryPublic(BaseModel):
    """One matter as a list version has it: who leads, who cooperates, on what basis."""

    list_id: int | None
    list_version: int
    code: str
    row_number: int
    name: str
    lead_department_id: int | None
    lead_department_name: str | None = Field(description="牵头部门")
    co_department_ids: list[int]
    co_department_names: list[str] = Field(description="配合部门")
    department_duties: str | None = Field(description="部门职责")
    township_duties_text: str | None = Field(description="乡镇职责")
    legal_basis: str | None = Field(description="法律依据")


class DisputeListChangePublic(BaseModel):
    """A list change a ruling proposed."""

    id: int
    kind: ListChangeKind
    matter_code: str
    proposal: dict[str, object]
    basis: str | None
    reasons: str
    status: ListChangeStatus


class DisputePublic(BaseModel):
    """A dispute as the lists show it."""

    id: int
    event_id: int
    status: DisputeStatus
    status_label: str = Field(description="待裁定或已裁定")
    trigger: DisputeTrigger
    trigger_label: str = Field(description="争议如何发起")
    reason: str | None = Field(description="发起理由（人工发起时）")
    matter_code: str | None
    matter_name: str | None = Field(description="分拨所依据的事项")
    event_description: str
    event_address: str | None
    township_name: str | None
    party_names: list[str] = Field(description="争议各方")
    opened_at: datetime
    ruled_at: datetime | None
    minutes_ref: str | None = Field(description="纪要号")


class DisputesPublic(BaseModel):
    """Disputes, newest first."""

    items: list[DisputePublic]
    total: int


class DisputeDetail(DisputePublic):
    """One dispute with its parties, the matter's list entries, the ruling and its change."""

    event_status: str
    parties: list[DisputePartyPublic]
    current_entry: ListEntryPublic | None = Field(description="现行清单中的该事项")
    routing_entry: ListEntryPublic | None = Field(
        description="派单所依据的清单版本中的该事项（与现行不同时）"
    )
    reasoning: str | None = Field(description="裁定理由")
    lead_department_id: int | None
    lead_department_name: str | None = Field(description="裁定的牵头部门")
    co_department_ids: list[int]
    co_department_names: list[str] = Field(description="裁定的配合部门")
    list_changes: list[DisputeListChangePublic] = Field(description="裁定同时提出的清单调整")


def _names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(Department.id, Department.name).where(col(Department.id).in_(ids)))
    return {i: name for i, name in rows if i is not None}


def may_read_all(actor: Actor) -> bool:
    """Whether the actor reads every dispute (the centre, the administrators, the 编办)."""
    return actor.role in CENTRE_ROLES or actor.role is UserRole.STAFFING_OFFICE


def _refuse_role() -> Forbidden:
    return Forbidden("只有县社会治理中心、县委编办和争议所涉部门可以查看争议")


def list_disputes(
    session: Session,
    actor: Actor,
    *,
    status: DisputeStatus | None = None,
    event_id: int | None = None,
    limit: int = 200,
) -> DisputesPublic:
    """Return the disputes the actor may read, newest first."""
    query = select(Dispute)
    if not may_read_all(actor):
        if actor.role is not UserRole.DEPARTMENT_STAFF or not actor.department_ids:
            raise _refuse_role()
        mine = select(DisputeParty.dispute_id).where(
            col(DisputeParty.department_id).in_(actor.department_ids)
        )
        query = query.where(col(Dispute.id).in_(mine))
    if status is not None:
        query = query.where(Dispute.status == status)
    if event_id is not None:
        query = query.where(Dispute.event_id == event_id)
    found = list(session.exec(query.order_by(col(Dispute.id).desc()).limit(limit)).all())
    return DisputesPublic(items=[_summary(session, d) for d in found], total=len(found))


def _parties(session: Session, dispute: Dispute) -> list[DisputeParty]:
    return list(
        session.exec(
            select(DisputeParty)
            .where(DisputeParty.dispute_id == dispute.id)
            .order_by(col(DisputeParty.returned_at), col(DisputeParty.assignment_id))
        ).all()
    )


def _matter_name(session: Session, dispute: Dispute) -> str | None:
    if dispute.matter_list_id is None or dispute.matter_code is None:
        return None
    matter = load_rules(session, dispute.matter_list_id).get(dispute.matter_code)
    return matter.name if matter else None


def _summary(session: Session, dispute: Dispute) -> DisputePublic:
    assert dispute.id is not None
    event = session.get(Event, dispute.event_id)
    assert event is not None
    parties = _parties(session, dispute)
    names = _names(session, [p.department_id for p in parties])
    return DisputePublic(
        id=dispute.id,
        event_id=dispute.event_id,
        status=dispute.status,
        status_label=STATUS_LABELS[DisputeStatus(dispute.status)],
        trigger=dispute.trigger,
        trigger_label=TRIGGER_LABELS[DisputeTrigger(dispute.trigger)],
        reason=dispute.reason,
        matter_code=dispute.matter_code,
        matter_name=_matter_name(session, dispute),
        event_description=event.description,
        event_address=event.address,
        township_name=jurisdiction_name(session, event.township_code),
        party_names=list(dict.fromkeys(names.get(p.department_id, "") for p in parties)),
        opened_at=dispute.opened_at,
        ruled_at=dispute.ruled_at,
        minutes_ref=dispute.minutes_ref,
    )


def get_dispute(session: Session, dispute_id: int) -> Dispute:
    """Return a dispute or raise NotFound."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(f"争议 {dispute_id} 不存在", field="dispute_id")
    return dispute


def authorize_read(session: Session, actor: Actor, dispute: Dispute) -> None:
    """Raise Forbidden unless the actor may read this dispute."""
    if may_read_all(actor):
        return
    if actor.role is UserRole.DEPARTMENT_STAFF:
        parties = {p.department_id for p in _parties(session, dispute)}
        if parties & actor.department_ids:
            return
        who = actor.department_name or "本部门"
        raise Forbidden(f"部门「{who}」不是该争议的一方，不能查看")
    raise _refuse_role()


def entry_of(session: Session, rules: MatterRules, matter: MatterRule) -> ListEntryPublic:
    """Describe one matter of a list version."""
    ids = [i for i in (matter.lead_department_id,) if i is not None] + list(
        matter.co_department_ids
    )
    names = _names(session, ids)
    lead = matter.lead_department_id
    return ListEntryPublic(
        list_id=rules.list_id,
        list_version=rules.version,
        code=matter.code,
        row_number=matter.row_number,
        name=matter.name,
        lead_department_id=lead,
        lead_department_name=names.get(lead) if lead is not None else None,
        co_department_ids=list(matter.co_department_ids),
        co_department_names=[names[i] for i in matter.co_department_ids if i in names],
        department_duties=matter.department_duties,
        township_duties_text=matter.township_duties_text,
        legal_basis=matter.legal_basis,
    )


def list_entries(
    session: Session, dispute: Dispute, event: Event, now: datetime | None = None
) -> tuple[ListEntryPublic | None, ListEntryPublic | None]:
    """Return the matter's entry in the list in force, and the routing version's if different."""
    if dispute.matter_code is None:
        return None, None
    current: ListEntryPublic | None = None
    rules = rules_in_force(session, event.county_code or "", now or utcnow())
    if rules is not None:
        matter = rules.get(dispute.matter_code)
        if matter is not None:
            current = entry_of(session, rules, matter)
    routing: ListEntryPublic | None = None
    if dispute.matter_list_id is not None and (
        current is None or current.list_id != dispute.matter_list_id
    ):
        routed = load_rules(session, dispute.matter_list_id)
        matter = routed.get(dispute.matter_code)
        if matter is not None:
            routing = entry_of(session, routed, matter)
    return current, routing


def dispute_detail(session: Session, dispute: Dispute) -> DisputeDetail:
    """Return everything the ruling weighs."""
    event = session.get(Event, dispute.event_id)
    assert event is not None
    parties = _parties(session, dispute)
    ruled_co = list(dispute.co_department_ids or [])
    ids = [p.department_id for p in parties] + ruled_co
    if dispute.lead_department_id is not None:
        ids.append(dispute.lead_department_id)
    names = _names(session, ids)
    current, routing = list_entries(session, dispute, event)
    changes = session.exec(
        select(ListChange).where(ListChange.dispute_id == dispute.id).order_by(col(ListChange.id))
    ).all()
    return DisputeDetail(
        **_summary(session, dispute).model_dump(),
        event_status=event.status,
        parties=[
            DisputePartyPublic(
                assignment_id=p.assignment_id,
                department_id=p.department_id,
                department_name=names.get(p.department_id, str(p.department_id)),
                role=p.role,
                return_reason=p.return_reason,
                return_clause=p.return_clause,
                clause_code=p.clause_code,
                returned_at=p.returned_at,
            )
            for p in parties
        ],
        current_entry=current,
        routing_entry=routing,
        reasoning=dispute.reasoning,
        lead_department_id=dispute.lead_department_id,
        lead_department_name=(
            names.get(dispute.lead_department_id) if dispute.lead_department_id else None
        ),
        co_department_ids=ruled_co,
        co_department_names=[names[i] for i in ruled_co if i in names],
        list_changes=[
            DisputeListChangePublic(
                id=c.id or 0,
                kind=c.kind,
                matter_code=c.matter_code,
                proposal=dict(c.proposal),
                basis=c.basis,
                reasons=c.reasons,
                status=c.status,
            )
            for c in changes
        ],
    )


def read_dispute(session: Session, actor: Actor, dispute_id: int) -> DisputeDetail:
    """Return one dispute to whoever may read it."""
    dispute = get_dispute(session, dispute_id)
    authorize_read(session, actor, dispute)
    return dispute_detail(session, dispute)
