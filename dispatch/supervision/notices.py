"""Supervision notices (督办) by hand: the centre issues one, the department replies (回复).

A notice chases a live part (pending or signed) of an event. The command centre issues one
with a note at a level (普通督办, 黄牌督办, 红牌督办); the county's rules issue them by
themselves (`supervision.rules`). The part's department, or the township operator for its
platform's parts, must acknowledge each notice once with a note; the notice then stays
acknowledged, not closed, until the part is fed back (`loop.notices.close_notices`).
Each notice and each reply is a step on the event, and so reaches the boards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from dispatch.core.clock import utcnow
from dispatch.core.errors import Conflict, Forbidden, NotFound
from dispatch.events.lifecycle import ASSIGNMENT_LABELS
from dispatch.events.models import (
    Assignment,
    AssignmentStatus,
    Event,
    NoticeLevel,
    NoticeStatus,
    SupervisionNotice,
)
from dispatch.events.scopes import assignment_scope
from dispatch.events.steps import add_step
from dispatch.loop.parts import department_name, lock_assignment, required_text
from dispatch.reference.models import Department, DepartmentKind
from dispatch.supervision.schemas import NoticePublic, NoticesPublic
from dispatch.users.models import User, UserRole
from dispatch.users.policy import CENTRE_ROLES, Action, Actor, authorize

NOTICE_LEVEL_LABELS: dict[NoticeLevel, str] = {
    NoticeLevel.NORMAL: "普通督办",
    NoticeLevel.YELLOW: "黄牌督办",
    NoticeLevel.RED: "红牌督办",
}
NOTICE_STATUS_LABELS: dict[NoticeStatus, str] = {
    NoticeStatus.OPEN: "待回复",
    NoticeStatus.ACKNOWLEDGED: "已回复",
    NoticeStatus.CLOSED: "已关闭",
}
# Only live work is chased: a part fed back, returned or cancelled is not.
LIVE = (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)
SUMMARY_LENGTH = 80
Row = tuple[SupervisionNotice, Assignment, Department, Event]


def require_live(assignment: Assignment) -> None:
    """Raise Conflict naming the part's state unless it is pending or signed."""
    if assignment.status not in LIVE:
        label = ASSIGNMENT_LABELS[AssignmentStatus(assignment.status)]
        raise Conflict(
            f"任务当前状态为「{label}」，不能督办（仅限待签收或处置中的任务）",
            field="status",
            code="status_conflict",
            extra={"status": str(assignment.status), "action": "supervise"},
        )


def issue_notice(
    session: Session,
    actor: Actor,
    user: User,
    assignment_id: int,
    *,
    level: NoticeLevel,
    note: str | None,
    now: datetime | None = None,
) -> SupervisionNotice:
    """Issue a notice by hand on a live part (the command centre, with a note)."""
    now = now or utcnow()
    authorize(actor, Action.SUPERVISE)
    note = required_text(note, "note", "督办内容")
    assignment, event = lock_assignment(session, assignment_id)
    require_live(assignment)
    assert event.id is not None
    notice = SupervisionNotice(
        event_id=event.id,
        assignment_id=assignment_id,
        level=NoticeLevel(level),
        note=note,
        issued_by_id=user.id,
        issued_at=now,
    )
    session.add(notice)
    session.flush()
    record_issued(session, event, assignment, notice, user=user)
    return notice


def record_issued(
    session: Session,
    event: Event,
    assignment: Assignment,
    notice: SupervisionNotice,
    *,
    user: User | None,
) -> None:
    """Record a notice issued as a step on its event, naming the level and the department."""
    name = department_name(session, assignment.department_id)
    add_step(
        session,
        event,
        action="supervise",
        actor=user,
        actor_label=None if user else "系统",
        assignment=assignment,
        to_org=name,
        reason=f"{NOTICE_LEVEL_LABELS[notice.level]}：{notice.note}",
        data={
            "notice_id": notice.id,
            "level": notice.level.value,
            "automatic": notice.automatic,
            "rule": notice.rule,
        },
        at=notice.issued_at,
    )


def reply_notice(
    session: Session,
    actor: Actor,
    user: User,
    notice_id: int,
    *,
    note: str | None,
    now: datetime | None = None,
) -> SupervisionNotice:
    """Acknowledge a notice (回复) with a note, once; it stays open until the part is fed back."""
    now = now or utcnow()
    found = session.get(SupervisionNotice, notice_id)
    if found is None:
        raise NotFound(f"督办 {notice_id} 不存在", field="notice_id")
    assignment, event = lock_assignment(session, found.assignment_id)
    authorize(
        actor, Action.REPLY_SUPERVISION, assignment=assignment_scope(session, assignment, event)
    )
    note = required_text(note, "note", "回复内容")
    notice = session.exec(
        select(SupervisionNotice)
        .where(SupervisionNotice.id == notice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if notice.status != NoticeStatus.OPEN:
        label = NOTICE_STATUS_LABELS[NoticeStatus(notice.status)]
        raise Conflict(
            f"督办当前状态为「{label}」，不能再次回复",
            field="status",
            code="status_conflict",
            extra={"status": str(notice.status), "action": "reply"},
        )
    notice.status = NoticeStatus.ACKNOWLEDGED
    notice.reply, notice.replied_by_id, notice.replied_at = note, user.id, now
    session.add(notice)
    name = department_name(session, assignment.department_id)
    add_step(
        session,
        event,
        action="supervision_reply",
        actor=user,
        assignment=assignment,
        from_org=name,
        reason=f"回复{NOTICE_LEVEL_LABELS[notice.level]}：{note}",
        data={"notice_id": notice.id, "level": notice.level.value},
        at=now,
    )
    return notice


# ---- Reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeFilter:
    """Which notices to list: by status (any of), level, event or assignment."""

    statuses: frozenset[NoticeStatus] | None = None
    level: NoticeLevel | None = None
    event_id: int | None = None
    assignment_id: int | None = None


def _readable(actor: Actor) -> ColumnElement[bool] | None:
    """Return the condition on (notice, assignment, department) the actor may read; None is all.

    The centre, the administrators and the staffing office read every notice; a department
    its own and its stationed units'; a township operator its platform's. Others none.
    """
    if actor.role in CENTRE_ROLES or actor.role is UserRole.STAFFING_OFFICE:
        return None
    if actor.role is UserRole.DEPARTMENT_STAFF and actor.department_ids:
        return col(Assignment.department_id).in_(actor.department_ids)
    if actor.role is UserRole.TOWNSHIP_OPERATOR and actor.township_code:
        return (col(Department.kind) == DepartmentKind.TOWNSHIP_PLATFORM) & (
            col(Department.township_code) == actor.township_code
        )
    raise Forbidden(
        "只有县社会治理中心、县委编办、被督办的部门和乡镇指挥室可以查看督办",
        code="forbidden",
    )


def _query(
    actor: Actor, where: NoticeFilter
) -> Select[SupervisionNotice, Assignment, Department, Event]:
    query = (
        select(SupervisionNotice, Assignment, Department, Event)
        .join(Assignment, col(Assignment.id) == SupervisionNotice.assignment_id)
        .join(Department, col(Department.id) == Assignment.department_id)
        .join(Event, col(Event.id) == SupervisionNotice.event_id)
    )
    readable = _readable(actor)
    if readable is not None:
        query = query.where(readable)
    if where.statuses:
        query = query.where(col(SupervisionNotice.status).in_(where.statuses))
    if where.level is not None:
        query = query.where(SupervisionNotice.level == where.level)
    if where.event_id is not None:
        query = query.where(SupervisionNotice.event_id == where.event_id)
    if where.assignment_id is not None:
        query = query.where(SupervisionNotice.assignment_id == where.assignment_id)
    return query


def list_notices(
    session: Session, actor: Actor, where: NoticeFilter, *, offset: int = 0, limit: int = 50
) -> NoticesPublic:
    """List the notices the actor may read, newest first."""
    query = _query(actor, where)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(SupervisionNotice.issued_at).desc(), col(SupervisionNotice.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    names = _user_names(session, rows)
    return NoticesPublic(
        data=[_public(row, names) for row in rows], count=total, offset=offset, limit=limit
    )


def read_notice(session: Session, actor: Actor, notice_id: int) -> NoticePublic:
    """Return one notice the actor may read: 404 when there is none, 403 out of scope."""
    if session.get(SupervisionNotice, notice_id) is None:
        raise NotFound(f"督办 {notice_id} 不存在", field="notice_id")
    row = session.exec(
        _query(actor, NoticeFilter()).where(SupervisionNotice.id == notice_id)
    ).first()
    if row is None:
        raise Forbidden("该督办不属于本部门或本乡镇平台，不能查看", code="forbidden")
    return _public(row, _user_names(session, [row]))


def _user_names(session: Session, rows: Sequence[Row]) -> dict[int, str]:
    ids: set[int] = set()
    for notice, *_ in rows:
        ids.update(i for i in (notice.issued_by_id, notice.replied_by_id) if i is not None)
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(ids))).all()
    return {u.id: u.display_name or u.username for u in users if u.id is not None}


def deadline_of(notice: SupervisionNotice, assignment: Assignment) -> tuple[str, datetime | None]:
    """Return which deadline a notice is about, and when it is (or was) due.

    A rule's notice is about its rule's deadline; one by hand about the part's running one
    (signing while it is pending, handling after).
    """
    if notice.rule is not None:
        kind = "sign" if notice.rule.startswith("sign") else "handle"
    elif assignment.status == AssignmentStatus.PENDING and assignment.sign_by is not None:
        kind = "sign"
    else:
        kind = "handle"
    return kind, assignment.sign_by if kind == "sign" else assignment.handle_by


def _public(row: Row, names: dict[int, str]) -> NoticePublic:
    notice, assignment, department, event = row
    kind, due = deadline_of(notice, assignment)
    return NoticePublic(
        **notice.model_dump(
            include={
                "id",
                "event_id",
                "assignment_id",
                "level",
                "status",
                "automatic",
                "rule",
                "note",
                "issued_at",
                "reply",
                "replied_at",
                "closed_at",
            }
        ),
        department_id=assignment.department_id,
        department_name=department.name,
        assignment_role=assignment.role,
        assignment_status=assignment.status,
        deadline_kind=kind,
        deadline=due,
        issued_by=names.get(notice.issued_by_id, "县社会治理中心")
        if notice.issued_by_id is not None
        else "系统",
        replied_by=names.get(notice.replied_by_id, "") or None
        if notice.replied_by_id is not None
        else None,
        event_summary=event.description[:SUMMARY_LENGTH],
    )
