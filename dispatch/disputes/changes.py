"""List change requests: written applications and rulings' proposals, checked against the list.

A request names one matter of the version in force and one change to it (or a new matter);
it is refused at once when it would change nothing or names what does not exist, so the
staffing office only ever reviews changes that can be folded into the next version.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput
from dispatch.disputes.models import (
    ListChange,
    ListChangeEvent,
    ListChangeKind,
    ListChangeSource,
)
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.events.models import Event
from dispatch.reference.lists.rules import MatterRule, MatterRules, code_key
from dispatch.reference.lists.versions import rules_in_force
from dispatch.reference.models import Department, JurisdictionRow, Platform
from dispatch.users.models import User
from dispatch.users.policy import ROLE_LABELS


def propose_change(
    session: Session,
    user: User,
    proposal: ListChangeProposal,
    *,
    county_code: str,
    source: ListChangeSource,
    applicant: str | None = None,
    dispute_id: int | None = None,
    extra_event_ids: Iterable[int] = (),
    now: datetime | None = None,
) -> ListChange:
    """Check a proposal against the list in force and record it as a pending request."""
    now = now or utcnow()
    rules = rules_in_force(session, county_code, now)
    if rules is None:
        raise InvalidInput("该县尚无生效的责任清单，不能申请调整", field="county_code")
    reasons = proposal.reasons.strip()
    if not reasons:
        raise InvalidInput("请填写申请理由", field="reasons")
    matter = rules.get(proposal.matter_code)
    check_proposal(session, rules, matter, proposal)
    change = ListChange(
        county_code=county_code,
        kind=proposal.kind,
        matter_code=matter.code if matter else proposal.matter_code.strip(),
        proposal=proposal_payload(proposal),
        basis=(proposal.basis or "").strip() or None,
        reasons=reasons,
        source=source,
        dispute_id=dispute_id,
        base_list_id=rules.list_id,
        applicant=applicant or applicant_of(session, user),
        submitted_by_id=user.id,
        submitted_at=now,
    )
    session.add(change)
    session.flush()
    assert change.id is not None
    event_ids = sorted(set(proposal.event_ids) | set(extra_event_ids))
    if event_ids:
        found = set(session.exec(select(Event.id).where(col(Event.id).in_(event_ids))).all())
        missing = [i for i in event_ids if i not in found]
        if missing:
            raise InvalidInput(
                f"作为证据的事件不存在：{'、'.join(f'#{i}' for i in missing)}", field="event_ids"
            )
        session.add_all(ListChangeEvent(change_id=change.id, event_id=i) for i in event_ids)
        session.flush()
    return change


def proposal_payload(proposal: ListChangeProposal) -> dict[str, object]:
    """Return what a request keeps of a proposal: the change itself, not its basis or reasons."""
    keep: dict[str, object] = {}
    if proposal.lead_department_id is not None:
        keep["lead_department_id"] = proposal.lead_department_id
    if proposal.co_department_ids:
        keep["co_department_ids"] = sorted(set(proposal.co_department_ids))
    if proposal.keywords:
        keep["keywords"] = list(dict.fromkeys(proposal.keywords))
    for name in (
        "name",
        "platform_code",
        "department_duties",
        "township_duties_text",
        "legal_basis",
        "sign_hours",
        "handle_days",
    ):
        value = getattr(proposal, name)
        if value is not None and value != "":
            keep[name] = value.strip() if isinstance(value, str) else value
    return keep


def check_proposal(
    session: Session, rules: MatterRules, matter: MatterRule | None, proposal: ListChangeProposal
) -> None:
    """Raise InvalidInput naming the field if the proposal names nothing real or changes nothing."""
    kind = ListChangeKind(proposal.kind)
    if kind is ListChangeKind.NEW_MATTER:
        if matter is not None:
            raise InvalidInput(
                f"事项编码「{matter.code}」已在第{rules.version}版清单中（{matter.name}），请换一个编码",
                field="matter_code",
            )
        if not (proposal.name or "").strip():
            raise InvalidInput("新增事项须填写事项名称", field="name")
        if proposal.lead_department_id is None:
            raise InvalidInput("新增事项须指定牵头部门", field="lead_department_id")
        _departments(session, [proposal.lead_department_id], "lead_department_id")
        _departments(session, proposal.co_department_ids, "co_department_ids")
        if proposal.lead_department_id in proposal.co_department_ids:
            raise InvalidInput("牵头部门不能同时是配合部门", field="co_department_ids")
        if proposal.platform_code and session.get(Platform, proposal.platform_code) is None:
            raise InvalidInput(f"平台「{proposal.platform_code}」不存在", field="platform_code")
        return
    if matter is None:
        raise InvalidInput(
            f"第{rules.version}版清单中没有事项「{proposal.matter_code}」", field="matter_code"
        )
    if kind is ListChangeKind.MOVE_LEAD:
        if proposal.lead_department_id is None:
            raise InvalidInput("请指定新的牵头部门", field="lead_department_id")
        _departments(session, [proposal.lead_department_id], "lead_department_id")
        if proposal.lead_department_id == matter.lead_department_id:
            raise InvalidInput("新的牵头部门与清单现行的牵头部门相同", field="lead_department_id")
    elif kind is ListChangeKind.ADD_CO:
        if not proposal.co_department_ids:
            raise InvalidInput("请指定要增加的配合部门", field="co_department_ids")
        _departments(session, proposal.co_department_ids, "co_department_ids")
        already = set(proposal.co_department_ids) & set(matter.co_department_ids)
        if already == set(proposal.co_department_ids):
            raise InvalidInput("所选部门已经都是该事项的配合部门", field="co_department_ids")
        if matter.lead_department_id in proposal.co_department_ids:
            raise InvalidInput("该事项的牵头部门不能再作为配合部门", field="co_department_ids")
    elif kind is ListChangeKind.ADD_KEYWORDS:
        if not proposal.keywords:
            raise InvalidInput("请填写要增加的关键词", field="keywords")
        known = {code_key(k) for k in matter.keywords}
        if all(code_key(k) in known for k in proposal.keywords):
            raise InvalidInput("所填关键词该事项已经都有", field="keywords")


def _departments(session: Session, ids: Iterable[int], field: str) -> None:
    wanted = sorted(set(ids))
    if not wanted:
        return
    found = set(session.exec(select(Department.id).where(col(Department.id).in_(wanted))).all())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"部门不存在：{'、'.join(f'#{i}' for i in missing)}", field=field)


def applicant_of(session: Session, user: User) -> str:
    """Name who applies: the user's department or township, else their role."""
    if user.department_id is not None:
        department = session.get(Department, user.department_id)
        if department is not None:
            return department.name
    if user.township_code:
        place = session.get(JurisdictionRow, user.township_code)
        if place is not None:
            return place.name
    return ROLE_LABELS[user.role]
