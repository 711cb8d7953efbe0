"""The state machine of events and assignments: one table each, enforced on the server.

Every transition is looked up here; anything not in a table is refused with a Conflict that
names the current state. The tables are data so that the UI, the docs and the tests can read
them too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select

from dispatch.core.errors import Conflict
from dispatch.events.models import Assignment, AssignmentRole, Event
from dispatch.events.models import AssignmentStatus as A
from dispatch.events.models import EventStatus as E


class EventAction(StrEnum):
    """What can happen to an event as a whole."""

    ROUTE = "route"  # the routing job found who acts
    NEED_TRIAGE = "need_triage"  # the routing job could not decide
    HANDLE_ON_SITE = "handle_on_site"  # 即报即办: straight to verification
    TRIAGE_ROUTE = "triage_route"  # the command centre routed it by hand
    LEAD_SIGN = "lead_sign"
    ALL_FED_BACK = "all_fed_back"
    VERIFY_PASS = "verify_pass"
    VERIFY_FAIL = "verify_fail"  # back to handling, counted as rework (重办)
    CLOSE = "close"
    RATE_SATISFIED = "rate_satisfied"
    RATE_UNSATISFIED = "rate_unsatisfied"  # reopened: the lead must handle it again
    MARK_INVALID = "mark_invalid"
    MERGE = "merge"


# Finished (办结 and after, or weeded out): nobody needs to act on the event any more.
FINISHED = (E.CLOSED, E.RATED, E.INVALID, E.MERGED)
# Open: someone still has to act, the township closing a verified event included. The API,
# the boards and the pages all use this one definition (the pages read it from the API).
OPEN = tuple(status for status in E if status not in FINISHED)


def overdue(now: datetime) -> ColumnElement[bool]:
    """Select open events past a deadline: a live part's running one, or the event's handle_by.

    A pending part runs against its sign_by, a signed one against its handle_by (as the
    boards count overdue); the event is late too once its own handle_by has passed.
    """
    late_part = select(Assignment.event_id).where(
        or_(
            and_(col(Assignment.status) == A.PENDING, col(Assignment.sign_by) <= now),
            and_(col(Assignment.status) == A.SIGNED, col(Assignment.handle_by) <= now),
        )
    )
    return and_(
        col(Event.status).in_([s.value for s in OPEN]),
        or_(col(Event.id).in_(late_part), col(Event.handle_by) <= now),
    )


# A duplicate is merged while it is being handled, not once it has been verified on site.
MERGEABLE = tuple(status for status in OPEN if status is not E.VERIFIED)

EVENT_TRANSITIONS: dict[tuple[E, EventAction], E] = {
    (E.REPORTED, EventAction.ROUTE): E.DISPATCHED,
    (E.REPORTED, EventAction.NEED_TRIAGE): E.NEEDS_TRIAGE,
    (E.REPORTED, EventAction.HANDLE_ON_SITE): E.RESOLVED,
    (E.NEEDS_TRIAGE, EventAction.TRIAGE_ROUTE): E.DISPATCHED,
    (E.DISPATCHED, EventAction.LEAD_SIGN): E.IN_PROGRESS,
    (E.DISPATCHED, EventAction.ALL_FED_BACK): E.RESOLVED,
    (E.IN_PROGRESS, EventAction.ALL_FED_BACK): E.RESOLVED,
    (E.REOPENED, EventAction.LEAD_SIGN): E.REOPENED,
    (E.REOPENED, EventAction.ALL_FED_BACK): E.RESOLVED,
    (E.RESOLVED, EventAction.VERIFY_PASS): E.VERIFIED,
    (E.RESOLVED, EventAction.VERIFY_FAIL): E.IN_PROGRESS,
    (E.VERIFIED, EventAction.CLOSE): E.CLOSED,
    (E.CLOSED, EventAction.RATE_SATISFIED): E.RATED,
    (E.CLOSED, EventAction.RATE_UNSATISFIED): E.REOPENED,
    **{(status, EventAction.MARK_INVALID): E.INVALID for status in (E.REPORTED, E.NEEDS_TRIAGE)},
    **{(status, EventAction.MERGE): E.MERGED for status in MERGEABLE},
}


class AssignmentAction(StrEnum):
    """What a department, or the command centre, does to one assignment."""

    SIGN = "sign"
    RETURN = "return"  # "not ours": a reason and the list clause relied on
    FEED_BACK = "feed_back"
    REFUSE_RETURN = "refuse_return"  # the command centre sends it back to the department
    REDISPATCH = "redispatch"  # the command centre gives it to another department
    REWORK = "rework"  # verification failed or the rating reopened the event
    CLOSE_PART = "close_part"  # the verifier closes a part that no longer applies, with a reason
    CANCEL = "cancel"  # merged away, or folded into the same agency's lead part


ASSIGNMENT_TRANSITIONS: dict[tuple[A, AssignmentAction], A] = {
    (A.PENDING, AssignmentAction.SIGN): A.SIGNED,
    (A.PENDING, AssignmentAction.RETURN): A.RETURNED,
    (A.SIGNED, AssignmentAction.RETURN): A.RETURNED,
    (A.SIGNED, AssignmentAction.FEED_BACK): A.FED_BACK,
    (A.RETURNED, AssignmentAction.REFUSE_RETURN): A.PENDING,
    (A.RETURNED, AssignmentAction.REDISPATCH): A.CANCELLED,
    (A.FED_BACK, AssignmentAction.REWORK): A.SIGNED,
    (A.PENDING, AssignmentAction.CANCEL): A.CANCELLED,
    (A.SIGNED, AssignmentAction.CANCEL): A.CANCELLED,
    (A.RETURNED, AssignmentAction.CANCEL): A.CANCELLED,
    (A.FED_BACK, AssignmentAction.CANCEL): A.CANCELLED,
    **{(status, AssignmentAction.CLOSE_PART): A.CANCELLED for status in (A.PENDING, A.SIGNED)},
    (A.RETURNED, AssignmentAction.CLOSE_PART): A.CANCELLED,
}

# A part still in someone's hands: not yet fed back, nor cancelled (returned parts wait on
# the command centre). Merging cancels these; a department's board lists them. An event is
# resolved (待核查) only when none of its parts is open, the township's territorial part
# included, so a finished event never holds an open part.
OPEN_PARTS = (A.PENDING, A.SIGNED, A.RETURNED)
# A part the event's handling counts: the current holder's, whether or not it fed back yet.
LIVE_PARTS = (A.PENDING, A.SIGNED, A.FED_BACK)
# While the event is being handled, the verifier may close a part that no longer applies.
HANDLING = (E.DISPATCHED, E.IN_PROGRESS, E.REOPENED)

PART_ROLE_LABELS: dict[AssignmentRole, str] = {
    AssignmentRole.LEAD: "牵头",
    AssignmentRole.CO: "协办",
    AssignmentRole.TERRITORIAL: "属地",
}

EVENT_LABELS: dict[E, str] = {
    E.REPORTED: "已上报",
    E.NEEDS_TRIAGE: "待研判",
    E.DISPATCHED: "已派单",
    E.IN_PROGRESS: "处置中",
    E.RESOLVED: "待核查",
    E.VERIFIED: "已核查",
    E.CLOSED: "已办结",
    E.RATED: "已回访",
    E.REOPENED: "已重启",
    E.INVALID: "无效",
    E.MERGED: "已合并",
}

ASSIGNMENT_LABELS: dict[A, str] = {
    A.PENDING: "待签收",
    A.SIGNED: "处置中",
    A.FED_BACK: "已反馈",
    A.RETURNED: "已退回",
    A.CANCELLED: "已撤销",
}

# What a person reads for each action: the timeline's step names and the refusals' verbs.
EVENT_ACTION_LABELS: dict[EventAction, str] = {
    EventAction.ROUTE: "分拨",
    EventAction.NEED_TRIAGE: "转人工研判",
    EventAction.HANDLE_ON_SITE: "即报即办",
    EventAction.TRIAGE_ROUTE: "人工分拨",
    EventAction.LEAD_SIGN: "牵头部门签收",
    EventAction.ALL_FED_BACK: "全部反馈",
    EventAction.VERIFY_PASS: "核查通过",
    EventAction.VERIFY_FAIL: "核查不通过",
    EventAction.CLOSE: "办结",
    EventAction.RATE_SATISFIED: "回访（满意）",
    EventAction.RATE_UNSATISFIED: "回访（不满意，重启）",
    EventAction.MARK_INVALID: "作废",
    EventAction.MERGE: "合并",
}

ASSIGNMENT_ACTION_LABELS: dict[AssignmentAction, str] = {
    AssignmentAction.SIGN: "签收",
    AssignmentAction.RETURN: "退回",
    AssignmentAction.FEED_BACK: "反馈",
    AssignmentAction.REFUSE_RETURN: "不予退回",
    AssignmentAction.REDISPATCH: "改派",
    AssignmentAction.REWORK: "重办",
    AssignmentAction.CANCEL: "撤销",
    AssignmentAction.CLOSE_PART: "关闭任务",
}


def next_event_status(current: str, action: EventAction) -> E:
    """Return the status an event moves to, or raise Conflict naming the current one."""
    status = E(current)
    found = EVENT_TRANSITIONS.get((status, action))
    if found is None:
        raise Conflict(
            f"事件当前状态为「{EVENT_LABELS[status]}」，不能{EVENT_ACTION_LABELS[action]}",
            field="status",
            code="status_conflict",
            extra={"status": status.value, "action": action.value},
        )
    return found


def next_assignment_status(current: str, action: AssignmentAction) -> A:
    """Return the status an assignment moves to, or raise Conflict naming the current one."""
    status = A(current)
    found = ASSIGNMENT_TRANSITIONS.get((status, action))
    if found is None:
        raise Conflict(
            f"任务当前状态为「{ASSIGNMENT_LABELS[status]}」，不能{ASSIGNMENT_ACTION_LABELS[action]}",
            field="status",
            code="status_conflict",
            extra={"status": status.value, "action": action.value},
        )
    return found
