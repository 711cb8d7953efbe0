"""Who may do what, where: pure permission rules over small value objects, no database.

A role says what a user may do, a scope (a township, or a department with its stationed
units) says where. Callers build the scopes from their rows (`users.scopes.actor_for`,
`events.scopes.event_scope`, `assignment_scope`) and ask `authorize` before acting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dispatch.core.errors import Forbidden
from dispatch.users.models import UserRole


class Action(StrEnum):
    """Something a user does to an event or an assignment, or to the reference data."""

    REPORT = "report"
    VIEW_EVENT = "view_event"
    TRIAGE_ROUTE = "triage_route"
    MARK_INVALID = "mark_invalid"
    MERGE = "merge"
    SIGN = "sign"
    RETURN_ASSIGNMENT = "return_assignment"
    FEED_BACK = "feed_back"
    REFUSE_RETURN = "refuse_return"
    REDISPATCH = "redispatch"
    VERIFY = "verify"
    CLOSE = "close"
    RATE = "rate"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    SUPERVISE = "supervise"
    REPLY_SUPERVISION = "reply_supervision"
    ESCALATE = "escalate"
    ANSWER_ESCALATION = "answer_escalation"
    OPEN_DISPUTE = "open_dispute"
    RULE_DISPUTE = "rule_dispute"
    PROPOSE_LIST_CHANGE = "propose_list_change"
    REVIEW_LIST_CHANGE = "review_list_change"
    MANAGE_REFERENCE = "manage_reference"
    READ_REPORTS = "read_reports"
    READ_WORKLOAD = "read_workload"


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in user as the rules see them.

    department_ids holds the user's department and, for a county department's staff, its
    stationed units: county staff may act for their units. The names only word denials.
    """

    id: int
    role: UserRole
    township_code: str | None = None
    department_id: int | None = None
    department_ids: frozenset[int] = frozenset()
    department_name: str | None = None
    township_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", UserRole(self.role))


@dataclass(frozen=True, slots=True)
class EventScope:
    """Where an event is and which departments hold (or held) assignments on it."""

    township_code: str | None
    department_ids_with_assignments: frozenset[int] = frozenset()
    township_name: str | None = None
    reporter_id: int | None = None


@dataclass(frozen=True, slots=True)
class AssignmentScope:
    """Whose assignment it is; platform_township_code is set when a township platform holds it.

    A township platform's assignment (territorial, or the lead of a matter the township
    handles itself) is acted on by that township's operator, not by department staff.
    """

    department_id: int
    township_code: str | None
    role: str
    department_name: str | None = None
    platform_township_code: str | None = None


CENTRE_ROLES = frozenset({UserRole.COMMAND_CENTRE, UserRole.ADMIN})
TOWNSHIP_ROLES = frozenset({UserRole.GRID_WORKER, UserRole.TOWNSHIP_OPERATOR})
REPORTER_ROLES = frozenset(
    {UserRole.GRID_WORKER, UserRole.TOWNSHIP_OPERATOR, UserRole.COMMAND_CENTRE, UserRole.ADMIN}
)
ASSIGNMENT_ACTIONS = frozenset(
    {
        Action.SIGN,
        Action.RETURN_ASSIGNMENT,
        Action.FEED_BACK,
        Action.REQUEST_EXTENSION,
        Action.REPLY_SUPERVISION,
        Action.ESCALATE,
    }
)
CENTRE_ACTIONS = frozenset(
    {
        Action.TRIAGE_ROUTE,
        Action.MARK_INVALID,
        Action.MERGE,
        Action.REFUSE_RETURN,
        Action.REDISPATCH,
        Action.DECIDE_EXTENSION,
        Action.SUPERVISE,
        Action.ANSWER_ESCALATION,
        Action.OPEN_DISPUTE,
        Action.RULE_DISPUTE,
    }
)
# Who may apply in writing to change the list: the departments, the townships, the centre.
PROPOSER_ROLES = frozenset(
    {
        UserRole.DEPARTMENT_STAFF,
        UserRole.TOWNSHIP_OPERATOR,
        UserRole.COMMAND_CENTRE,
        UserRole.STAFFING_OFFICE,
    }
)
# Who reads the assessment and the ledger: everyone but grid workers, each their own rows
# (reports/scope.py); and who reads the staffing evidence of every department.
REPORT_ROLES = frozenset(
    {
        UserRole.TOWNSHIP_OPERATOR,
        UserRole.DEPARTMENT_STAFF,
        UserRole.COMMAND_CENTRE,
        UserRole.ADMIN,
        UserRole.STAFFING_OFFICE,
    }
)
WORKLOAD_ROLES = frozenset({UserRole.COMMAND_CENTRE, UserRole.ADMIN, UserRole.STAFFING_OFFICE})
EVENT_ACTIONS = frozenset({Action.VIEW_EVENT, Action.VERIFY, Action.CLOSE, Action.RATE})

ROLE_LABELS: Mapping[UserRole, str] = {
    UserRole.GRID_WORKER: "网格员",
    UserRole.TOWNSHIP_OPERATOR: "乡镇指挥室",
    UserRole.DEPARTMENT_STAFF: "部门工作人员",
    UserRole.COMMAND_CENTRE: "县社会治理中心",
    UserRole.ADMIN: "系统管理员",
    UserRole.STAFFING_OFFICE: "县委编办",
}
ACTION_LABELS: Mapping[Action, str] = {
    Action.REPORT: "上报事件",
    Action.VIEW_EVENT: "查看事件",
    Action.TRIAGE_ROUTE: "研判分拨",
    Action.MARK_INVALID: "标记无效事件",
    Action.MERGE: "合并事件",
    Action.SIGN: "签收任务",
    Action.RETURN_ASSIGNMENT: "退回任务",
    Action.FEED_BACK: "反馈任务",
    Action.REFUSE_RETURN: "驳回退回",
    Action.REDISPATCH: "改派任务",
    Action.VERIFY: "核查事件",
    Action.CLOSE: "办结事件",
    Action.RATE: "评价事件",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "审批延期",
    Action.SUPERVISE: "督办",
    Action.REPLY_SUPERVISION: "回复督办",
    Action.ESCALATE: "乡呼县应",
    Action.ANSWER_ESCALATION: "响应乡呼",
    Action.OPEN_DISPUTE: "发起争议",
    Action.RULE_DISPUTE: "裁定争议",
    Action.PROPOSE_LIST_CHANGE: "申请调整责任清单",
    Action.REVIEW_LIST_CHANGE: "审核和发布责任清单",
    Action.MANAGE_REFERENCE: "管理基础数据和用户",
    Action.READ_REPORTS: "查看考核和导出台账",
    Action.READ_WORKLOAD: "查看编制评估",
}
_ASSIGNMENT_PHRASES: Mapping[Action, str] = {
    Action.SIGN: "签收「{}」的任务",
    Action.RETURN_ASSIGNMENT: "退回「{}」的任务",
    Action.FEED_BACK: "反馈「{}」的任务",
    Action.REQUEST_EXTENSION: "为「{}」的任务申请延期",
    Action.REPLY_SUPERVISION: "回复「{}」任务的督办",
    Action.ESCALATE: "将「{}」的任务呼叫县级响应",
}
_EVENT_VERBS: Mapping[Action, str] = {
    Action.VIEW_EVENT: "查看",
    Action.VERIFY: "核查",
    Action.CLOSE: "办结",
    Action.RATE: "评价",
}
_WHO_MAY: Mapping[Action, str] = {
    Action.REPORT: "网格员、乡镇指挥室、县社会治理中心、系统管理员",
    Action.VIEW_EVENT: "事件所在乡镇、在事件中有任务的部门、县社会治理中心、县委编办、系统管理员",
    Action.MANAGE_REFERENCE: "系统管理员",
    Action.PROPOSE_LIST_CHANGE: "部门工作人员、乡镇指挥室、县社会治理中心、县委编办",
    Action.REVIEW_LIST_CHANGE: "县委编办",
    Action.READ_REPORTS: (
        "乡镇指挥室、部门工作人员（本单位的数据）、县社会治理中心、县委编办、系统管理员"
    ),
    Action.READ_WORKLOAD: "县委编办、县社会治理中心、系统管理员",
    Action.VERIFY: "事件所在乡镇的网格员和乡镇指挥室",
    Action.CLOSE: "事件所在乡镇的指挥室、县社会治理中心、系统管理员",
    Action.RATE: "事件所在乡镇的指挥室、县社会治理中心、系统管理员",
    **{a: "任务所属部门（乡镇平台的任务由该乡镇指挥室办理）" for a in ASSIGNMENT_ACTIONS},
    Action.ESCALATE: "乡镇指挥室（本乡镇平台的任务）",
    **{a: "县社会治理中心、系统管理员" for a in CENTRE_ACTIONS},
}


def authorize(
    user: Actor,
    action: Action,
    *,
    event: EventScope | None = None,
    assignment: AssignmentScope | None = None,
) -> None:
    """Raise Forbidden, saying who may not do what and why, unless the user may act."""
    refusal = _refusal(user, action, event, assignment)
    if refusal is not None:
        raise Forbidden(refusal)


def can(
    user: Actor,
    action: Action,
    *,
    event: EventScope | None = None,
    assignment: AssignmentScope | None = None,
) -> bool:
    """Return whether the user may do the action (what `authorize` would allow)."""
    return _refusal(user, action, event, assignment) is None


def allowed_actions(user: Actor) -> list[Action]:
    """Return what the user may do to things in their own scope, by the rules of `authorize`.

    The pages show a button only for an action listed here; the server still decides each
    request against the real event or assignment.
    """
    own_event = EventScope(
        township_code=user.township_code or "",
        department_ids_with_assignments=user.department_ids,
    )
    own_part = AssignmentScope(
        department_id=user.department_id if user.department_id is not None else -1,
        township_code=user.township_code,
        role="lead",
        platform_township_code=user.township_code,
    )
    return [a for a in Action if can(user, a, event=own_event, assignment=own_part)]


def _refusal(
    user: Actor, action: Action, event: EventScope | None, assignment: AssignmentScope | None
) -> str | None:
    """Return the reason to refuse, or None to allow."""
    action = Action(action)
    if action in EVENT_ACTIONS and event is None:
        raise ValueError(f"authorize({action.value}) needs the event's scope")
    if action in ASSIGNMENT_ACTIONS and assignment is None:
        raise ValueError(f"authorize({action.value}) needs the assignment's scope")
    role = user.role

    if action is Action.REPORT:
        return None if role in REPORTER_ROLES else _role_refused(user, action)
    if action is Action.MANAGE_REFERENCE:
        return None if role is UserRole.ADMIN else _role_refused(user, action)
    if action is Action.PROPOSE_LIST_CHANGE:
        return None if role in PROPOSER_ROLES else _role_refused(user, action)
    if action is Action.REVIEW_LIST_CHANGE:
        return None if role is UserRole.STAFFING_OFFICE else _role_refused(user, action)
    if action is Action.READ_REPORTS:
        return None if role in REPORT_ROLES else _role_refused(user, action)
    if action is Action.READ_WORKLOAD:
        return None if role in WORKLOAD_ROLES else _role_refused(user, action)
    if action in CENTRE_ACTIONS:
        return None if role in CENTRE_ROLES else _role_refused(user, action)
    if action in ASSIGNMENT_ACTIONS:
        assert assignment is not None
        return _assignment_refusal(user, action, assignment)
    assert event is not None
    return _event_refusal(user, action, event)


def _event_refusal(user: Actor, action: Action, event: EventScope) -> str | None:
    role = user.role
    if role in CENTRE_ROLES and action is not Action.VERIFY:
        return None
    if role is UserRole.STAFFING_OFFICE and action is Action.VIEW_EVENT:
        return None  # the staffing office reads every event: the evidence it weighs
    allowed_here = {
        Action.VIEW_EVENT: TOWNSHIP_ROLES | {UserRole.DEPARTMENT_STAFF},
        Action.VERIFY: TOWNSHIP_ROLES,
        Action.CLOSE: {UserRole.TOWNSHIP_OPERATOR},
        Action.RATE: {UserRole.TOWNSHIP_OPERATOR},
    }[action]
    if role not in allowed_here:
        return _role_refused(user, action)
    if action is Action.VIEW_EVENT and event.reporter_id == user.id:
        return None  # whoever reported it may follow it, wherever it was
    if role is UserRole.DEPARTMENT_STAFF:
        if user.department_ids & event.department_ids_with_assignments:
            return None
        return f"{_who(user)}不能查看该事件：本部门（含派驻机构）在该事件中没有任务"
    if event.township_code is None:
        return f"{_who(user)}不能{ACTION_LABELS[action]}：该事件尚未定位到乡镇"
    if event.township_code == user.township_code:
        return None
    place = event.township_name or event.township_code
    return f"{_who(user)}不能{_EVENT_VERBS[action]}乡镇「{place}」的事件"


def _assignment_refusal(user: Actor, action: Action, assignment: AssignmentScope) -> str | None:
    role = user.role
    owner = assignment.department_name or f"部门#{assignment.department_id}"
    refused = f"{_who(user)}不能{_ASSIGNMENT_PHRASES[action].format(owner)}"
    if action is Action.ESCALATE and role is not UserRole.TOWNSHIP_OPERATOR:
        return _role_refused(user, action)  # only a township calls the county in
    if role is UserRole.DEPARTMENT_STAFF:
        if assignment.department_id in user.department_ids:
            return None
        return refused
    if role is UserRole.TOWNSHIP_OPERATOR:
        platform_township = assignment.platform_township_code
        if platform_township is not None and platform_township == user.township_code:
            return None
        if platform_township is None:
            return f"{refused}：乡镇指挥室只办理本乡镇平台的任务"
        return refused
    return _role_refused(user, action)


def _role_refused(user: Actor, action: Action) -> str:
    return f"{_who(user)}不能{ACTION_LABELS[action]}（仅限{_WHO_MAY[action]}）"


def _who(user: Actor) -> str:
    """Name the actor the way a denial should: by department or township where there is one."""
    role = user.role
    if role is UserRole.DEPARTMENT_STAFF:
        return f"部门「{user.department_name or f'#{user.department_id}'}」"
    if role in TOWNSHIP_ROLES:
        place = user.township_name or user.township_code or "?"
        suffix = "的网格员" if role is UserRole.GRID_WORKER else ""
        return f"乡镇「{place}」{suffix}"
    return ROLE_LABELS[role]


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which events a user may list: by township, by department with a part; None is no limit.

    reporter_id widens a township limit: a reporter also lists what they reported elsewhere.
    """

    townships: frozenset[str] | None = None
    departments: frozenset[int] | None = None
    reporter_id: int | None = None


def visibility(user: Actor) -> Visibility:
    """Return which events the user may list (reading one event is `authorize`'s VIEW_EVENT)."""
    if user.role in TOWNSHIP_ROLES:
        # A grid worker may report in a neighbouring township; they still see what they reported.
        return Visibility(townships=frozenset({user.township_code or ""}), reporter_id=user.id)
    if user.role is UserRole.DEPARTMENT_STAFF:
        return Visibility(departments=user.department_ids)
    return Visibility()  # the centre, the administrators and the staffing office see every event


def history_departments(user: Actor) -> frozenset[int]:
    """Return the departments whose past assignments the user may list, or raise Forbidden.

    A department's history is its own staff's: county staff also see their stationed units'.
    Nobody else lists it (the centre and the townships follow events, not a department's desk).
    """
    if user.role is UserRole.DEPARTMENT_STAFF and user.department_ids:
        return user.department_ids
    raise Forbidden(f"{_who(user)}不能查看部门历史任务（仅限本部门工作人员）")
