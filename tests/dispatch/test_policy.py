"""The permission rules: every role against every action, in its own scope and another's."""

from __future__ import annotations

from typing import Literal

import pytest

from dispatch.core.errors import Forbidden
from dispatch.events.models import AssignmentRole
from dispatch.users.models import UserRole
from dispatch.users.policy import (
    Action,
    Actor,
    AssignmentScope,
    EventScope,
    authorize,
    can,
    history_departments,
    visibility,
)

XINSHI, HEKOU = "320999004", "320999005"
ZHIFA, ZHIFA_UNIT, SHICHANG, SHICHANG_UNIT = 1, 22, 2, 26
XINSHI_PLATFORM, HEKOU_PLATFORM = 101, 201

ACTORS = {
    UserRole.GRID_WORKER: Actor(
        id=1, role=UserRole.GRID_WORKER, township_code=XINSHI, township_name="新市镇"
    ),
    UserRole.TOWNSHIP_OPERATOR: Actor(
        id=2, role=UserRole.TOWNSHIP_OPERATOR, township_code=XINSHI, township_name="新市镇"
    ),
    UserRole.DEPARTMENT_STAFF: Actor(
        id=3,
        role=UserRole.DEPARTMENT_STAFF,
        department_id=SHICHANG,
        department_ids=frozenset({SHICHANG, SHICHANG_UNIT}),
        department_name="县市场监督管理局",
    ),
    UserRole.COMMAND_CENTRE: Actor(id=4, role=UserRole.COMMAND_CENTRE),
    UserRole.ADMIN: Actor(id=5, role=UserRole.ADMIN),
    UserRole.STAFFING_OFFICE: Actor(id=6, role=UserRole.STAFFING_OFFICE),
}


def platform_assignment(township: str, department_id: int, name: str) -> AssignmentScope:
    """Return the territorial assignment of a township's platform."""
    return AssignmentScope(
        department_id=department_id,
        township_code=township,
        role=AssignmentRole.TERRITORIAL,
        department_name=name,
        platform_township_code=township,
    )


def department_assignment(department_id: int, name: str) -> AssignmentScope:
    """Return a lead assignment of a county department in 新市镇."""
    return AssignmentScope(
        department_id=department_id,
        township_code=XINSHI,
        role=AssignmentRole.LEAD,
        department_name=name,
    )


XINSHI_EVENT = EventScope(XINSHI, frozenset({SHICHANG_UNIT, XINSHI_PLATFORM}), "新市镇")
HEKOU_EVENT = EventScope(HEKOU, frozenset({ZHIFA, HEKOU_PLATFORM}), "河口镇")

# Per role, an event and an assignment inside the actor's scope, and one outside it.
SCOPES: dict[UserRole, dict[str, tuple[EventScope, AssignmentScope]]] = {
    UserRole.GRID_WORKER: {
        "own": (XINSHI_EVENT, platform_assignment(XINSHI, XINSHI_PLATFORM, "新市镇综合执法平台")),
        "other": (HEKOU_EVENT, platform_assignment(HEKOU, HEKOU_PLATFORM, "河口镇综合执法平台")),
    },
    UserRole.DEPARTMENT_STAFF: {
        "own": (XINSHI_EVENT, department_assignment(SHICHANG_UNIT, "新市市场监管所")),
        "other": (HEKOU_EVENT, department_assignment(ZHIFA, "县综合行政执法局")),
    },
}
SCOPES[UserRole.TOWNSHIP_OPERATOR] = SCOPES[UserRole.GRID_WORKER]
SCOPES[UserRole.COMMAND_CENTRE] = SCOPES[UserRole.GRID_WORKER]
SCOPES[UserRole.ADMIN] = SCOPES[UserRole.GRID_WORKER]
SCOPES[UserRole.STAFFING_OFFICE] = SCOPES[UserRole.GRID_WORKER]

# The rules as specified: "all" anywhere, "own" only in the actor's scope, "none" never.
Rule = Literal["all", "own", "none"]
G, T, D, C, A, S = (
    UserRole.GRID_WORKER,
    UserRole.TOWNSHIP_OPERATOR,
    UserRole.DEPARTMENT_STAFF,
    UserRole.COMMAND_CENTRE,
    UserRole.ADMIN,
    UserRole.STAFFING_OFFICE,
)
CENTRE_ONLY: dict[UserRole, Rule] = {G: "none", T: "none", D: "none", C: "all", A: "all", S: "none"}
ASSIGNMENT_WORK: dict[UserRole, Rule] = {
    G: "none",
    T: "own",
    D: "own",
    C: "none",
    A: "none",
    S: "none",
}
TOWNSHIP_OR_CENTRE: dict[UserRole, Rule] = {
    G: "none",
    T: "own",
    D: "none",
    C: "all",
    A: "all",
    S: "none",
}
NOBODY_BUT: dict[UserRole, dict[UserRole, Rule]] = {
    role: {other: ("all" if other is role else "none") for other in UserRole} for role in UserRole
}
EXPECTED: dict[Action, dict[UserRole, Rule]] = {
    Action.REPORT: {G: "all", T: "all", D: "none", C: "all", A: "all", S: "none"},
    Action.VIEW_EVENT: {G: "own", T: "own", D: "own", C: "all", A: "all", S: "all"},
    Action.TRIAGE_ROUTE: CENTRE_ONLY,
    Action.MARK_INVALID: CENTRE_ONLY,
    Action.MERGE: CENTRE_ONLY,
    Action.SIGN: ASSIGNMENT_WORK,
    Action.RETURN_ASSIGNMENT: ASSIGNMENT_WORK,
    Action.FEED_BACK: ASSIGNMENT_WORK,
    Action.REQUEST_EXTENSION: ASSIGNMENT_WORK,
    Action.REFUSE_RETURN: CENTRE_ONLY,
    Action.REDISPATCH: CENTRE_ONLY,
    Action.VERIFY: {G: "own", T: "own", D: "none", C: "none", A: "none", S: "none"},
    Action.CLOSE: TOWNSHIP_OR_CENTRE,
    Action.RATE: TOWNSHIP_OR_CENTRE,
    Action.DECIDE_EXTENSION: CENTRE_ONLY,
    Action.SUPERVISE: CENTRE_ONLY,
    Action.REPLY_SUPERVISION: ASSIGNMENT_WORK,
    Action.ESCALATE: {**NOBODY_BUT[T], T: "own"},
    Action.ANSWER_ESCALATION: CENTRE_ONLY,
    Action.OPEN_DISPUTE: CENTRE_ONLY,
    Action.RULE_DISPUTE: CENTRE_ONLY,
    Action.PROPOSE_LIST_CHANGE: {G: "none", T: "all", D: "all", C: "all", A: "none", S: "all"},
    Action.REVIEW_LIST_CHANGE: NOBODY_BUT[S],
    Action.MANAGE_REFERENCE: NOBODY_BUT[A],
    # Everyone but grid workers reads reports; the rows are scoped in reports/scope.py.
    Action.READ_REPORTS: {G: "none", T: "all", D: "all", C: "all", A: "all", S: "all"},
    Action.READ_WORKLOAD: {G: "none", T: "none", D: "none", C: "all", A: "all", S: "all"},
}
ASSIGNMENT_ACTIONS = {
    Action.SIGN,
    Action.RETURN_ASSIGNMENT,
    Action.FEED_BACK,
    Action.REQUEST_EXTENSION,
    Action.REPLY_SUPERVISION,
    Action.ESCALATE,
}
MATRIX = [
    pytest.param(role, action, where, id=f"{role.value}-{action.value}-{where}")
    for action in Action
    for role in UserRole
    for where in ("own", "other")
]


def test_the_expected_table_covers_every_action_and_role() -> None:
    assert set(EXPECTED) == set(Action)
    assert all(set(rules) == set(UserRole) for rules in EXPECTED.values())
    assert {a.value for a in Action} == {
        "report",
        "view_event",
        "triage_route",
        "mark_invalid",
        "merge",
        "sign",
        "return_assignment",
        "feed_back",
        "refuse_return",
        "redispatch",
        "verify",
        "close",
        "rate",
        "request_extension",
        "decide_extension",
        "supervise",
        "reply_supervision",
        "escalate",
        "answer_escalation",
        "open_dispute",
        "rule_dispute",
        "propose_list_change",
        "review_list_change",
        "manage_reference",
        "read_reports",
        "read_workload",
    }


WHO = {
    G: "乡镇「新市镇」的网格员",
    T: "乡镇「新市镇」",
    D: "部门「县市场监督管理局」",
    C: "县社会治理中心",
    A: "系统管理员",
    S: "县委编办",
}


@pytest.mark.parametrize(("role", "action", "where"), MATRIX)
def test_role_action_scope_matrix(role: UserRole, action: Action, where: str) -> None:
    actor = ACTORS[role]
    event, assignment = SCOPES[role][where]
    on = assignment if action in ASSIGNMENT_ACTIONS else None
    rule = EXPECTED[action][role]
    allowed = rule == "all" or (rule == "own" and where == "own")
    assert can(actor, action, event=event, assignment=on) is allowed
    if allowed:
        authorize(actor, action, event=event, assignment=on)
    else:
        with pytest.raises(Forbidden) as refused:
            authorize(actor, action, event=event, assignment=on)
        assert refused.value.message.startswith(f"{WHO[role]}不能")


def test_a_department_refused_an_assignment_is_told_whose_it_is() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(
            ACTORS[D], Action.SIGN, assignment=department_assignment(ZHIFA, "县综合行政执法局")
        )
    assert refused.value.message == "部门「县市场监督管理局」不能签收「县综合行政执法局」的任务"


def test_a_township_refused_another_township_event_names_both() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(ACTORS[G], Action.VERIFY, event=HEKOU_EVENT)
    assert refused.value.message == "乡镇「新市镇」的网格员不能核查乡镇「河口镇」的事件"


def test_a_role_refused_outright_says_who_may() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(ACTORS[D], Action.TRIAGE_ROUTE, event=XINSHI_EVENT)
    message = refused.value.message
    assert message.startswith("部门「县市场监督管理局」不能研判分拨")
    assert "县社会治理中心" in message


def test_a_department_refused_an_event_without_its_assignments_says_why() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(ACTORS[D], Action.VIEW_EVENT, event=HEKOU_EVENT)
    assert "县市场监督管理局" in refused.value.message
    assert "没有任务" in refused.value.message


def test_county_staff_act_for_their_stationed_units_but_unit_staff_not_for_the_county() -> None:
    county_staff = Actor(
        id=6,
        role=D,
        department_id=ZHIFA,
        department_ids=frozenset({ZHIFA, ZHIFA_UNIT}),
        department_name="县综合行政执法局",
    )
    unit_staff = Actor(
        id=7,
        role=D,
        department_id=ZHIFA_UNIT,
        department_ids=frozenset({ZHIFA_UNIT}),
        department_name="第二执法中队",
    )
    on_unit = department_assignment(ZHIFA_UNIT, "第二执法中队")
    on_county = department_assignment(ZHIFA, "县综合行政执法局")
    assert can(county_staff, Action.SIGN, assignment=on_unit)
    assert can(county_staff, Action.FEED_BACK, assignment=on_county)
    assert can(unit_staff, Action.SIGN, assignment=on_unit)
    assert not can(unit_staff, Action.SIGN, assignment=on_county)


def test_a_township_operator_works_its_platform_not_a_department_nor_another_township() -> None:
    operator = ACTORS[T]
    own_platform = platform_assignment(XINSHI, XINSHI_PLATFORM, "新市镇综合执法平台")
    assert can(operator, Action.SIGN, assignment=own_platform)
    with pytest.raises(Forbidden) as department_task:
        authorize(
            operator, Action.SIGN, assignment=department_assignment(ZHIFA, "县综合行政执法局")
        )
    assert department_task.value.message.startswith(
        "乡镇「新市镇」不能签收「县综合行政执法局」的任务"
    )
    with pytest.raises(Forbidden) as other_platform:
        authorize(
            operator,
            Action.FEED_BACK,
            assignment=platform_assignment(HEKOU, HEKOU_PLATFORM, "河口镇综合执法平台"),
        )
    assert other_platform.value.message == "乡镇「新市镇」不能反馈「河口镇综合执法平台」的任务"


def test_department_staff_may_not_sign_a_township_platform_task() -> None:
    platform = platform_assignment(XINSHI, XINSHI_PLATFORM, "新市镇综合执法平台")
    assert not can(ACTORS[D], Action.SIGN, assignment=platform)


def test_an_event_not_yet_located_is_refused_to_township_roles_but_not_the_centre() -> None:
    unlocated = EventScope(None, frozenset())
    with pytest.raises(Forbidden, match="尚未定位"):
        authorize(ACTORS[T], Action.VIEW_EVENT, event=unlocated)
    assert can(ACTORS[C], Action.VIEW_EVENT, event=unlocated)


@pytest.mark.parametrize(
    ("action", "missing"),
    [(Action.VIEW_EVENT, "event"), (Action.SIGN, "assignment"), (Action.CLOSE, "event")],
)
def test_a_missing_scope_is_a_programming_error_for_every_role(
    action: Action, missing: str
) -> None:
    for actor in ACTORS.values():
        with pytest.raises(ValueError, match=missing):
            can(actor, action)


def test_roles_and_actions_given_as_plain_strings_are_understood() -> None:
    actor = Actor(id=8, role="command_centre")  # type: ignore[arg-type]
    assert actor.role is UserRole.COMMAND_CENTRE
    assert can(actor, "merge")  # type: ignore[arg-type]
    assert not can(actor, "manage_reference")  # type: ignore[arg-type]


def test_the_reporter_may_follow_a_report_made_outside_their_township() -> None:
    worker = Actor(id=7, role=UserRole.GRID_WORKER, township_code="320999004")
    elsewhere = EventScope(township_code="320999011", reporter_id=7)
    someone_elses = EventScope(township_code="320999011", reporter_id=8)
    assert can(worker, Action.VIEW_EVENT, event=elsewhere)
    assert not can(worker, Action.VIEW_EVENT, event=someone_elses)
    assert not can(worker, Action.VERIFY, event=elsewhere)


@pytest.mark.parametrize(
    ("role", "townships", "departments"),
    [
        (UserRole.GRID_WORKER, frozenset({XINSHI}), None),
        (UserRole.TOWNSHIP_OPERATOR, frozenset({XINSHI}), None),
        (UserRole.DEPARTMENT_STAFF, None, frozenset({SHICHANG, SHICHANG_UNIT})),
        (UserRole.COMMAND_CENTRE, None, None),
        (UserRole.ADMIN, None, None),
    ],
)
def test_each_role_lists_the_events_of_its_scope(
    role: UserRole, townships: frozenset[str] | None, departments: frozenset[int] | None
) -> None:
    seen = visibility(ACTORS[role])
    assert (seen.townships, seen.departments) == (townships, departments)


def test_a_departments_history_is_its_own_staffs() -> None:
    assert history_departments(ACTORS[D]) == frozenset({SHICHANG, SHICHANG_UNIT})
    for role in (G, T, C, A):
        with pytest.raises(Forbidden) as refused:
            history_departments(ACTORS[role])
        assert refused.value.message == f"{WHO[role]}不能查看部门历史任务（仅限本部门工作人员）"
    unattached = Actor(id=9, role=UserRole.DEPARTMENT_STAFF)
    with pytest.raises(Forbidden):
        history_departments(unattached)


def test_a_grid_worker_verifies_on_site_in_their_own_township() -> None:
    # 核查 is done where the problem was: the township's grid workers walk its grids daily.
    worker = ACTORS[G]
    assert can(worker, Action.VERIFY, event=XINSHI_EVENT)
    assert not can(worker, Action.VERIFY, event=HEKOU_EVENT)
    assert not can(worker, Action.CLOSE, event=XINSHI_EVENT)  # closing stays the command room's
