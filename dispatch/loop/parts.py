"""What every loop action on an assignment shares: loading it, moving it, naming it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.core.errors import InvalidInput, NotFound
from dispatch.events.lifecycle import (
    ASSIGNMENT_LABELS,
    HANDLING,
    LIVE_PARTS,
    OPEN_PARTS,
    AssignmentAction,
    EventAction,
    next_assignment_status,
)
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    ExtensionRequest,
    ExtensionStatus,
)
from dispatch.events.service import lock_event
from dispatch.events.steps import add_step, move_event
from dispatch.loop.notices import close_notices
from dispatch.reference.models import Department, DepartmentKind
from dispatch.users.models import User

COMMAND_CENTRE = "县社会治理中心"


def lock_assignment(session: Session, assignment_id: int) -> tuple[Assignment, Event]:
    """Return an assignment and its event, both read afresh and locked, or raise NotFound.

    The event is locked first, then the part: every transition takes its locks in that
    order, so two actions on parts of one event queue up instead of deadlocking, and the
    checks that span parts (every handler fed back) see what the other committed.
    """
    found = session.get(Assignment, assignment_id)
    if found is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    event = lock_event(session, found.event_id)
    assignment = session.exec(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return assignment, event


def required_text(text: str | None, field: str, label: str) -> str:
    if text is None or not text.strip():
        raise InvalidInput(f"「{label}」为必填项", field=field, code="field_required")
    return text.strip()


def department_name(session: Session, department_id: int) -> str:
    department = session.get(Department, department_id)
    return department.name if department else str(department_id)


def move_assignment(
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
    if (
        action in (AssignmentAction.SIGN, AssignmentAction.RETURN)
        and assignment.answered_at is None
    ):
        assignment.answered_at = now
    if action is AssignmentAction.RETURN:
        assignment.returns += 1
    elif action is AssignmentAction.REWORK:
        assignment.reworks += 1
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
    # A part that stops being live takes its side paths with it: a pending extension request
    # lapses, and its supervision notices close once it is fed back or cancelled.
    if before in EXTENDABLE and assignment.status not in EXTENDABLE:
        lapse_extensions(session, event, assignment, now=now)
    close_notices(session, event, assignment, user=user, now=now)


# A part whose handling deadline can still move by an extension (延期).
EXTENDABLE = (AssignmentStatus.PENDING, AssignmentStatus.SIGNED)


def lapse_extensions(
    session: Session, event: Event, assignment: Assignment, *, now: datetime
) -> None:
    """Lapse (已失效) the part's pending extension request: the part stopped being live."""
    pending = session.exec(
        select(ExtensionRequest)
        .where(
            ExtensionRequest.assignment_id == assignment.id,
            ExtensionRequest.status == ExtensionStatus.PENDING,
        )
        .with_for_update()
    ).all()
    label = ASSIGNMENT_LABELS[AssignmentStatus(assignment.status)]
    for request in pending:
        lapse_request(session, request, assignment, event, now=now, why=f"任务已转为「{label}」")


def lapse_request(
    session: Session,
    request: ExtensionRequest,
    assignment: Assignment,
    event: Event,
    *,
    now: datetime,
    why: str,
) -> None:
    """Mark one extension request lapsed (已失效), saying why, as a step."""
    request.status, request.decided_at = ExtensionStatus.LAPSED, now
    session.add(request)
    add_step(
        session,
        event,
        action="extension_lapsed",
        actor_label="系统",
        assignment=assignment,
        to_org=department_name(session, assignment.department_id),
        reason=lapse_reason(request.working_days, why),
        data={"extension_id": request.id},
        at=now,
    )


def lapse_reason(working_days: int, why: str) -> str:
    """Say why an extension request lapsed, as its step does."""
    return f"延期申请（{working_days} 个工作日）已失效：{why}"


def live_parts(session: Session, event: Event) -> list[Assignment]:
    """Return the parts the event's handling counts: every role, fed back or not."""
    return list(
        session.exec(
            select(Assignment).where(
                Assignment.event_id == event.id, col(Assignment.status).in_(LIVE_PARTS)
            )
        )
    )


def every_part_fed_back(session: Session, event: Event) -> bool:
    """Whether the event's handling is done: some part fed back and none still open.

    Every role counts, the township's territorial part (patrol, dissuade, report, cooperate)
    included; a returned part waits on the command centre and so still counts as open.
    """
    statuses = set(
        session.exec(select(Assignment.status).where(Assignment.event_id == event.id)).all()
    )
    return AssignmentStatus.FED_BACK in statuses and not statuses & set(OPEN_PARTS)


def resolve_if_done(session: Session, event: Event, user: User | None, now: datetime) -> None:
    """Move a handled event to 待核查 once its last open part is fed back or closed."""
    session.flush()
    if event.status in HANDLING and every_part_fed_back(session, event):
        move_event(
            session,
            event,
            EventAction.ALL_FED_BACK,
            actor=user,
            at=now,
            reason="各项任务（牵头、协办、属地）均已反馈或关闭，待属地核查",
        )


def new_round(
    session: Session,
    event: Event,
    *,
    department: Department,
    role: AssignmentRole,
    like: Assignment | None,
    sign_by: datetime | None,
    handle_by: datetime | None,
    now: datetime,
) -> Assignment:
    """Add a department's part in the next round of its role (re-dispatch, ruling, 县应).

    The round is past every earlier one of the role, so the (event, department, role, round)
    key never clashes; a stationed unit's part names the department it acts for; the duties
    are those of the part it continues (like), if any. The caller writes the step and hands
    the part to delivery.
    """
    assert event.id is not None and department.id is not None
    last = session.exec(
        select(Assignment.round).where(Assignment.event_id == event.id, Assignment.role == role)
    ).all()
    acts_for = department.kind == DepartmentKind.STATIONED_UNIT and department.parent_id
    fresh = Assignment(
        event_id=event.id,
        department_id=department.id,
        role=role,
        round=max(last, default=0) + 1,
        on_behalf_of_id=department.parent_id if acts_for else None,
        duties=list(like.duties) if like else [],
        duties_text=like.duties_text if like else None,
        sign_by=sign_by,
        handle_by=handle_by,
        created_at=now,
    )
    session.add(fresh)
    session.flush()
    return fresh
