"""The staffing office's review of list change requests, the draft they make, and publishing.

A written application (or a ruling's request, made in disputes.changes) waits, pending,
for the staffing office (县委编办). Accepting folds it into the county's draft of the next
list version (reference.lists.drafts); rejecting needs a note. Publishing the draft
supersedes the version in force (reference.lists.versions.publish_list, which also moves
the reference generation so every router rebuilds) and marks its requests published.
Events routed before keep the version that routed them (Event.matter_list_id).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from dispatch.core.clock import local_date, utcnow
from dispatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.disputes.changes import applicant_of, propose_change
from dispatch.disputes.list_schemas import (
    CHANGE_STATUS_LABELS,
    ColumnChangePublic,
    DisputeBrief,
    EvidenceEvent,
    ListChangeCreate,
    ListChangeDetail,
    ListChangePublic,
    ListDiff,
    ListMatterPublic,
    MatterChangePublic,
    MatterListDetail,
    MatterListPublic,
)
from dispatch.disputes.models import (
    Dispute,
    ListChange,
    ListChangeEvent,
    ListChangeKind,
    ListChangeSource,
    ListChangeStatus,
)
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.events.models import Event
from dispatch.reference.lists.drafts import (
    diff_rules,
    fold_change,
    open_draft,
    replace_matter,
    write_matter,
)
from dispatch.reference.lists.rules import MatterRule, MatterRules, code_key
from dispatch.reference.lists.versions import (
    get_list,
    list_in_force,
    list_versions,
    load_rules,
    publish_list,
)
from dispatch.reference.models import (
    LIST_STATUS_LABELS,
    Department,
    ListStatus,
    Matter,
    MatterList,
    Platform,
)
from dispatch.users.models import User, UserRole
from dispatch.users.policy import CENTRE_ROLES, Action, Actor, authorize, can
from dispatch.users.scopes import actor_for, county_for

EVIDENCE_CUT = 80


# ---- Applying ---------------------------------------------------------------------------


def file_application(
    session: Session, user: User, body: ListChangeCreate, *, now: datetime | None = None
) -> ListChange:
    """Record a written application to change the county's list (pending review)."""
    authorize(actor_for(session, user), Action.PROPOSE_LIST_CHANGE)
    county = county_for(session, body.county, user)
    assert county is not None
    proposal = ListChangeProposal.model_validate(body.model_dump(exclude={"county"}))
    return propose_change(
        session, user, proposal, county_code=county, source=ListChangeSource.WRITTEN, now=now
    )


# ---- Reading requests -------------------------------------------------------------------


def _sees_all(actor: Actor) -> bool:
    return actor.role in CENTRE_ROLES or can(actor, Action.REVIEW_LIST_CHANGE)


def _scope(session: Session, user: User) -> tuple[Actor, str | None]:
    """Return the actor and, unless they see every request, the applicant they are."""
    actor = actor_for(session, user)
    if _sees_all(actor):
        return actor, None
    authorize(actor, Action.PROPOSE_LIST_CHANGE)
    return actor, applicant_of(session, user)


def _led_codes(session: Session, actor: Actor, county: str, now: datetime) -> list[str]:
    """Return the codes of matters of the list in force that the actor's departments lead."""
    if actor.role is not UserRole.DEPARTMENT_STAFF or not actor.department_ids:
        return []
    in_force = list_in_force(session, county, now)
    if in_force is None or in_force.id is None:
        return []
    rules = load_rules(session, in_force.id)
    return [m.code for m in rules.matters if m.lead_department_id in actor.department_ids]


def visible_changes(
    session: Session,
    user: User,
    *,
    county: str | None,
    status: ListChangeStatus | None = None,
    now: datetime | None = None,
) -> list[ListChangePublic]:
    """List the requests the user may see, newest first: all, or their own and their matters'."""
    now = now or utcnow()
    actor, applicant = _scope(session, user)
    county = county_for(session, county, user)
    assert county is not None
    query = select(ListChange).where(ListChange.county_code == county)
    if status is not None:
        query = query.where(ListChange.status == status)
    if applicant is not None:
        led = _led_codes(session, actor, county, now)
        query = query.where(
            or_(
                col(ListChange.applicant) == applicant,
                col(ListChange.submitted_by_id) == user.id,
                col(ListChange.matter_code).in_(led),
            )
        )
    changes = list(session.exec(query.order_by(col(ListChange.id).desc())).all())
    return _publics(session, changes, now)


def change_for(session: Session, user: User, change_id: int) -> ListChangeDetail:
    """Return one request with its evidence, if the user may see it."""
    actor, applicant = _scope(session, user)
    change = _get(session, change_id)
    if applicant is not None and not (
        change.applicant == applicant
        or change.submitted_by_id == user.id
        or change.matter_code in _led_codes(session, actor, change.county_code, utcnow())
    ):
        raise Forbidden(f"不能查看调整申请 #{change_id}：仅限申请单位和该事项的牵头部门")
    return change_detail(session, change)


def _get(session: Session, change_id: int, *, lock: bool = False) -> ListChange:
    query = select(ListChange).where(ListChange.id == change_id)
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None:
        raise NotFound(f"调整申请 #{change_id} 不存在", field="change_id")
    return found


class _Names:
    """Department and platform names, read once per request."""

    def __init__(self, session: Session) -> None:
        self.departments = {d.id: d.name for d in session.exec(select(Department)).all()}
        self.platforms = {p.code: p.name for p in session.exec(select(Platform)).all()}

    def department(self, department_id: int | None) -> str:
        if department_id is None:
            return ""
        return self.departments.get(department_id, f"部门#{department_id}")


def _summary(change: ListChange, current: MatterRule | None, names: _Names) -> str:
    proposal = change.proposal
    kind = ListChangeKind(change.kind)
    lead = proposal.get("lead_department_id")
    co = proposal.get("co_department_ids")
    co_names = (
        "、".join(names.department(i) for i in co if isinstance(i, int))
        if isinstance(co, list)
        else ""
    )
    if kind is ListChangeKind.MOVE_LEAD:
        was = names.department(current.lead_department_id) if current else ""
        new = names.department(lead if isinstance(lead, int) else None)
        return f"牵头部门由「{was}」改为「{new}」" if was else f"牵头部门改为「{new}」"
    if kind is ListChangeKind.ADD_CO:
        return f"增加配合部门「{co_names}」"
    if kind is ListChangeKind.ADD_KEYWORDS:
        words = proposal.get("keywords")
        listed = "、".join(str(w) for w in words) if isinstance(words, list) else ""
        return f"增加关键词「{listed}」"
    name = proposal.get("name")
    new = names.department(lead if isinstance(lead, int) else None)
    with_co = f"，配合部门「{co_names}」" if co_names else ""
    return f"新增事项「{name}」，牵头部门「{new}」{with_co}"


def _publics(session: Session, changes: list[ListChange], now: datetime) -> list[ListChangePublic]:
    if not changes:
        return []
    names = _Names(session)
    in_force: dict[str, MatterRules | None] = {}
    evidence: dict[int, list[int]] = {}
    rows = session.exec(
        select(ListChangeEvent.change_id, ListChangeEvent.event_id)
        .where(col(ListChangeEvent.change_id).in_([c.id for c in changes]))
        .order_by(col(ListChangeEvent.event_id))
    )
    for change_id, event_id in rows:
        evidence.setdefault(change_id, []).append(event_id)
    out = []
    for change in changes:
        if change.county_code not in in_force:
            found = list_in_force(session, change.county_code, now)
            in_force[change.county_code] = (
                load_rules(session, found.id) if found is not None and found.id else None
            )
        rules = in_force[change.county_code]
        current = rules.get(change.matter_code) if rules else None
        out.append(_public(change, current, names, evidence.get(change.id or 0, [])))
    return out


def _public(
    change: ListChange, current: MatterRule | None, names: _Names, event_ids: list[int]
) -> ListChangePublic:
    assert change.id is not None
    proposed = change.proposal.get("name")
    return ListChangePublic(
        id=change.id,
        county_code=change.county_code,
        kind=change.kind,
        matter_code=change.matter_code,
        matter_name=current.name if current else (proposed if isinstance(proposed, str) else None),
        summary=_summary(change, current, names),
        proposal=change.proposal,
        basis=change.basis,
        reasons=change.reasons,
        source=change.source,
        dispute_id=change.dispute_id,
        base_list_id=change.base_list_id,
        applicant=change.applicant,
        submitted_at=change.submitted_at,
        status=change.status,
        reviewed_at=change.reviewed_at,
        review_note=change.review_note,
        draft_list_id=change.draft_list_id,
        event_ids=event_ids,
    )


def change_detail(session: Session, change: ListChange) -> ListChangeDetail:
    """Return a request with the dispute, the events it cites and the matter's entry in force."""
    now = utcnow()
    (public,) = _publics(session, [change], now)
    dispute = session.get(Dispute, change.dispute_id) if change.dispute_id else None
    events = session.exec(
        select(Event)
        .join(ListChangeEvent, col(ListChangeEvent.event_id) == col(Event.id))
        .where(ListChangeEvent.change_id == change.id)
        .order_by(col(Event.id))
    ).all()
    found = list_in_force(session, change.county_code, now)
    rules = load_rules(session, found.id) if found is not None and found.id else None
    current = rules.get(change.matter_code) if rules else None
    return ListChangeDetail(
        **public.model_dump(),
        dispute=DisputeBrief(
            id=dispute.id,
            event_id=dispute.event_id,
            status=dispute.status,
            minutes_ref=dispute.minutes_ref,
            reasoning=dispute.reasoning,
        )
        if dispute is not None and dispute.id is not None
        else None,
        events=[
            EvidenceEvent(
                id=e.id,
                description=e.description[:EVIDENCE_CUT]
                + ("…" if len(e.description) > EVIDENCE_CUT else ""),
                matter_code=e.matter_code,
                status=e.status,
            )
            for e in events
            if e.id is not None
        ],
        matter=matter_public(current, _Names(session)) if current else None,
    )


# ---- Reviewing --------------------------------------------------------------------------


def _pending(change: ListChange, verb: str) -> None:
    if change.status != ListChangeStatus.PENDING:
        label = CHANGE_STATUS_LABELS[ListChangeStatus(change.status)]
        raise Conflict(
            f"调整申请 #{change.id} 当前状态为「{label}」，只有待审核的申请才能{verb}",
            code="change_not_pending",
        )


def accept_change(
    session: Session, user: User, change_id: int, note: str | None, *, now: datetime | None = None
) -> ListChangeDetail:
    """Fold a pending request into the county's draft of the next version (made if none)."""
    now = now or utcnow()
    authorize(actor_for(session, user), Action.REVIEW_LIST_CHANGE)
    change = _get(session, change_id, lock=True)
    _pending(change, "采纳")
    draft = open_draft(session, change.county_code, now)
    assert draft.id is not None
    rules = load_rules(session, draft.id)
    rule, new = fold_change(rules, change.kind, change.matter_code, change.proposal)
    if new:
        write_matter(session, draft.id, rule)
    else:
        replace_matter(session, draft.id, rule)
    change.status = ListChangeStatus.ACCEPTED
    change.reviewed_by_id = user.id
    change.reviewed_at = now
    change.review_note = (note or "").strip() or None
    change.draft_list_id = draft.id
    session.flush()
    return change_detail(session, change)


def reject_change(
    session: Session, user: User, change_id: int, note: str, *, now: datetime | None = None
) -> ListChangeDetail:
    """Reject a pending request, saying why."""
    authorize(actor_for(session, user), Action.REVIEW_LIST_CHANGE)
    if not note.strip():
        raise InvalidInput("请填写不予采纳的理由", field="note")
    change = _get(session, change_id, lock=True)
    _pending(change, "不予采纳")
    change.status = ListChangeStatus.REJECTED
    change.reviewed_by_id = user.id
    change.reviewed_at = now or utcnow()
    change.review_note = note.strip()
    session.flush()
    return change_detail(session, change)


def publish_draft(
    session: Session, user: User, list_id: int, effective_from: date
) -> MatterListPublic:
    """Publish a draft from a date; its accepted requests become published."""
    authorize(actor_for(session, user), Action.REVIEW_LIST_CHANGE)
    get_list(session, list_id)
    draft = session.exec(select(MatterList).where(MatterList.id == list_id).with_for_update()).one()
    if draft.status != ListStatus.DRAFT:
        label = LIST_STATUS_LABELS[ListStatus(draft.status)]
        raise Conflict(
            f"第{draft.version}版清单当前状态为「{label}」，只有草稿才能发布",
            code="list_not_draft",
        )
    if effective_from < local_date(utcnow()):
        raise InvalidInput("生效日期不能早于今天（北京时间）", field="effective_from")
    later = session.exec(
        select(MatterList).where(
            MatterList.county_code == draft.county_code,
            col(MatterList.status).in_([ListStatus.PUBLISHED, ListStatus.SUPERSEDED]),
            col(MatterList.effective_from) > effective_from,
        )
    ).first()
    if later is not None:
        raise InvalidInput(
            f"第{later.version}版清单定于 {later.effective_from} 生效，新版本不能早于它",
            field="effective_from",
        )
    publish_list(session, list_id, effective_from=effective_from)
    for change in session.exec(
        select(ListChange).where(
            ListChange.draft_list_id == list_id, ListChange.status == ListChangeStatus.ACCEPTED
        )
    ):
        change.status = ListChangeStatus.PUBLISHED
    session.flush()
    return _list_publics(session, [draft], utcnow())[0]


# ---- Reading versions -------------------------------------------------------------------


def matter_public(rule: MatterRule, names: _Names) -> ListMatterPublic:
    """Return one matter with its department and platform names."""
    return ListMatterPublic(
        code=rule.code,
        row_number=rule.row_number,
        name=rule.name,
        platform_code=rule.platform_code,
        platform_name=names.platforms.get(rule.platform_code) if rule.platform_code else None,
        lead_department_id=rule.lead_department_id,
        lead_name=names.department(rule.lead_department_id) or None,
        co_department_ids=list(rule.co_department_ids),
        co_names=[names.department(i) for i in rule.co_department_ids],
        department_duties=rule.department_duties,
        township_duties=list(rule.township_duties),
        township_duties_text=rule.township_duties_text,
        legal_basis=rule.legal_basis,
        mode=rule.mode,
        sign_hours=rule.sign_hours,
        handle_days=rule.handle_days,
        urgent_sign_hours=rule.urgent_sign_hours,
        urgent_handle_hours=rule.urgent_handle_hours,
        keywords=list(rule.keywords),
    )


def _list_publics(
    session: Session, lists: list[MatterList], now: datetime
) -> list[MatterListPublic]:
    if not lists:
        return []
    ids = [m.id for m in lists]
    counts = dict(
        session.exec(
            select(Matter.list_id, func.count())
            .where(col(Matter.list_id).in_(ids))
            .group_by(col(Matter.list_id))
        ).all()
    )
    changes = dict(
        session.exec(
            select(ListChange.draft_list_id, func.count())
            .where(col(ListChange.draft_list_id).in_(ids))
            .group_by(col(ListChange.draft_list_id))
        ).all()
    )
    in_force_ids = set()
    for county in {m.county_code for m in lists}:
        found = list_in_force(session, county, now)
        if found is not None:
            in_force_ids.add(found.id)
    return [
        MatterListPublic(
            id=m.id,
            county_code=m.county_code,
            version=m.version,
            status=m.status,
            effective_from=m.effective_from,
            published_at=m.published_at,
            superseded_at=m.superseded_at,
            source_document=m.source_document,
            in_force=m.id in in_force_ids,
            matter_count=counts.get(m.id, 0),
            change_count=changes.get(m.id, 0),
        )
        for m in lists
        if m.id is not None
    ]


def list_summaries(session: Session, user: User, county: str | None) -> list[MatterListPublic]:
    """Return every version of the county's list (the user's by default), newest first."""
    code = county_for(session, county, user)
    assert code is not None
    versions = list(reversed(list_versions(session, code)))
    return _list_publics(session, versions, utcnow())


def _matches(rule: MatterRule, q: str, names: _Names) -> bool:
    wanted = code_key(q)
    haystack = [
        rule.code,
        rule.name,
        *rule.keywords,
        names.department(rule.lead_department_id),
        *(names.department(i) for i in rule.co_department_ids),
    ]
    return any(wanted in code_key(text) for text in haystack if text)


def list_detail(session: Session, list_id: int, q: str | None = None) -> MatterListDetail:
    """Return a version and its matters, those matching q (code, name, keyword, department)."""
    matter_list = get_list(session, list_id)
    (public,) = _list_publics(session, [matter_list], utcnow())
    names = _Names(session)
    rules = load_rules(session, list_id)
    query = (q or "").strip()
    matters = [
        matter_public(m, names) for m in rules.matters if not query or _matches(m, query, names)
    ]
    return MatterListDetail(**public.model_dump(), matters=matters)


def list_diff(session: Session, list_id: int, against: int | None = None) -> ListDiff:
    """Compare a version with another (by default the version in force), matter by matter."""
    now = utcnow()
    matter_list = get_list(session, list_id)
    if against is not None:
        other: MatterList | None = get_list(session, against)
        assert other is not None
        if other.county_code != matter_list.county_code:
            raise InvalidInput("对照版本须是同一个县的清单", field="against")
    else:
        other = list_in_force(session, matter_list.county_code, now)
    names = _Names(session)
    new = load_rules(session, list_id)
    old = (
        load_rules(session, other.id)
        if other is not None and other.id is not None
        else MatterRules(None, matter_list.county_code, 0, None, ())
    )
    publics = _list_publics(session, [matter_list, *([other] if other else [])], now)
    folded = list(
        session.exec(
            select(ListChange)
            .where(ListChange.draft_list_id == list_id)
            .order_by(col(ListChange.id))
        ).all()
    )
    return ListDiff(
        version=publics[0],
        against=publics[1] if len(publics) > 1 else None,
        matters=[
            MatterChangePublic(
                code=c.code,
                name=c.name,
                change=c.change,
                columns=[
                    ColumnChangePublic(column=x.column, label=x.label, old=x.old, new=x.new)
                    for x in c.columns
                ],
            )
            for c in diff_rules(old, new, names.department)
        ],
        changes=_publics(session, folded, now),
    )
