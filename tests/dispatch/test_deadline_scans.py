"""The scheduler's set-based deadline scans: only what is due, once, judged by today's deadline.

On the demo county's routed C-004 event (tests.dispatch.test_extensions' desk): warnings,
the county rules' notices and lapses each written once however often a round runs, a part
whose deadline an extension moved judged by the new one, the rules' cutoff exactly where the
working days run out, the bulk steps in the outbox for the boards, and (on PostgreSQL) the
scans served by their partial indexes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from dispatch.core.clock import CHINA_TZ, as_utc
from dispatch.core.outbox import outbox_of
from dispatch.events.models import Assignment, ExtensionStatus, SupervisionNotice
from dispatch.events.steps import WrittenStep
from dispatch.reference.calendar import WorkCalendar
from dispatch.reference.county_rules import DEFAULTS, SupervisionRule
from dispatch.supervision import extensions
from dispatch.supervision.alerts import RED, YELLOW, raise_deadline_alerts
from dispatch.supervision.rules import due_at, due_cutoff, issue_rule_notices
from tests.dispatch.test_extensions import (
    Desk,
    desk,
    people_database_url,
    router,
    session,
)

FIXTURES = (desk, people_database_url, router, session)  # the desk and what it stands on


def _round(desk: Desk, now: datetime) -> tuple[int, int, int]:
    """Run one round's three scans at now; return how many each wrote."""
    alerts = raise_deadline_alerts(desk.session, now=now)
    lapsed = extensions.lapse_overdue_requests(desk.session, now=now)
    notices = issue_rule_notices(desk.session, now=now, calendar=desk.calendar)
    return len(alerts), len(lapsed), len(notices)


def _system_steps(desk: Desk) -> list[tuple[str, int | None]]:
    return [
        (step.action, step.assignment_id)
        for step in desk.steps("overdue") + desk.steps("deadline_near") + desk.steps("supervise")
    ]


def test_a_round_twice_writes_nothing_the_second_time(desk: Desk) -> None:
    lead = desk.part()
    desk.ask(2, now=as_utc(lead.created_at) + timedelta(minutes=1))
    late = as_utc(lead.handle_by or lead.created_at) + timedelta(days=30)
    alerts, lapsed, notices = _round(desk, late)
    # Every live part's warnings and notices, and the lead's pending request lapsed.
    assert alerts > 0 and lapsed == 1 and notices > 0
    steps = _system_steps(desk)
    assert len(steps) == alerts + notices
    assert _round(desk, late) == (0, 0, 0)
    assert _round(desk, late + timedelta(days=1)) == (0, 0, 0)
    assert _system_steps(desk) == steps
    levels = desk.session.exec(
        select(SupervisionNotice.level).where(SupervisionNotice.assignment_id == lead.id)
    ).all()
    assert sorted(levels) == ["normal", "red", "yellow"]


def test_warnings_come_once_each_at_70_percent_and_at_the_deadline(desk: Desk) -> None:
    lead = desk.part()
    created, deadline = as_utc(lead.created_at), as_utc(lead.handle_by or lead.created_at)
    yellow = created + (deadline - created) * 0.7 + timedelta(milliseconds=1)
    early = raise_deadline_alerts(desk.session, now=yellow - timedelta(seconds=2))
    assert (lead.id, "handle") not in {(a.assignment_id, a.kind) for a in early}
    at_mark = raise_deadline_alerts(desk.session, now=yellow)
    assert (lead.id, "handle", YELLOW) in {(a.assignment_id, a.kind, a.level) for a in at_mark}
    assert desk.part().handle_alert == YELLOW
    again = raise_deadline_alerts(desk.session, now=yellow + timedelta(seconds=1))
    assert (lead.id, "handle") not in {(a.assignment_id, a.kind) for a in again}
    red = raise_deadline_alerts(desk.session, now=deadline)
    assert (lead.id, "handle", RED) in {(a.assignment_id, a.kind, a.level) for a in red}
    assert raise_deadline_alerts(desk.session, now=deadline + timedelta(days=9)) == []


def test_a_part_is_judged_by_the_deadline_an_extension_gave_it(desk: Desk) -> None:
    lead = desk.part()
    deadline = as_utc(lead.handle_by or lead.created_at)
    desk.decide(desk.ask(5, now=deadline - timedelta(hours=1)), now=deadline - timedelta(hours=1))
    moved = as_utc(desk.part().handle_by or deadline)
    assert moved > deadline
    just_after_old = deadline + timedelta(hours=1)
    assert (lead.id, "handle", RED) not in {
        (a.assignment_id, a.kind, a.level)
        for a in raise_deadline_alerts(desk.session, now=just_after_old)
    }
    handle_notices = [
        n.rule
        for n in issue_rule_notices(desk.session, now=just_after_old, calendar=desk.calendar)
        if n.assignment_id == lead.id and (n.rule or "").startswith("handle")
    ]
    assert handle_notices == []
    past_new = desk.calendar.add_working_days(moved, 1) + timedelta(minutes=1)
    issued = issue_rule_notices(desk.session, now=past_new, calendar=desk.calendar)
    assert "handle+1" in {n.rule for n in issued if n.assignment_id == lead.id}


def test_the_steps_reach_the_outbox_with_their_event(desk: Desk) -> None:
    lead = desk.part()
    outbox_of(desk.session).clear()
    late = as_utc(lead.handle_by or lead.created_at) + timedelta(days=30)
    alerts, _, notices = _round(desk, late)
    noted = outbox_of(desk.session).steps.get(desk.event.id or 0, [])
    assert len(noted) == alerts + notices
    assert all(isinstance(step, WrittenStep) and step.id for step in noted)
    assert outbox_of(desk.session).subjects[desk.event.id or 0] is desk.event
    notice_steps = [
        s.row() for s in noted if isinstance(s, WrittenStep) and s.action == "supervise"
    ]
    assert {s["actor"] for s in notice_steps} == {"系统"}
    assert all((s["data"] or {}).get("notice_id") for s in notice_steps)


def test_a_lapse_taken_by_the_scan_is_refused_to_a_late_decision(desk: Desk) -> None:
    lead = desk.part()
    request = desk.ask(2, now=as_utc(lead.created_at) + timedelta(minutes=1))
    late = as_utc(lead.handle_by or lead.created_at) + timedelta(minutes=1)
    assert extensions.lapse_overdue_requests(desk.session, now=late) == [request.id]
    assert request.status == ExtensionStatus.LAPSED  # the session's object follows the UPDATE
    (step,) = desk.steps("extension_lapsed")
    assert (step.reason or "").endswith("已失效：审批前办结时限已过")


@pytest.mark.parametrize("days", [0, 1, 3])
@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 23, 9, 30, tzinfo=CHINA_TZ),  # a Monday morning, after a weekend
        datetime(2026, 11, 21, 15, 0, tzinfo=CHINA_TZ),  # a Saturday
        datetime(2026, 11, 26, 0, 0, tzinfo=CHINA_TZ),  # midnight on a Thursday
    ],
)
def test_the_rules_cutoff_is_exactly_where_the_working_days_run_out(
    desk: Desk, days: int, now: datetime
) -> None:
    calendar: WorkCalendar = desk.calendar
    rule = SupervisionRule(deadline="handle", overdue_working_days=days, level="yellow")
    cutoff = due_cutoff(calendar, rule, now)
    assert due_at(calendar, cutoff, rule) <= now
    assert due_at(calendar, cutoff + timedelta(microseconds=1), rule) > now
    for hours in (1, 30, 80):
        earlier = cutoff - timedelta(hours=hours)
        assert due_at(calendar, earlier, rule) <= now


def test_the_default_rules_are_the_ones_the_scan_applies(desk: Desk) -> None:
    lead = desk.part()
    late = as_utc(lead.handle_by or lead.created_at) + timedelta(days=30)
    issued = issue_rule_notices(desk.session, now=late, calendar=desk.calendar)
    rules = {n.rule for n in issued if n.assignment_id == lead.id}
    assert rules == {r.key for r in DEFAULTS.supervision_rules}
    # The notices come in the order of their parts, then of the rules.
    order = [(n.assignment_id, n.id) for n in issued]
    assert order == sorted(order)


@pytest.mark.parametrize("deadline", ["sign", "handle"])
def test_on_postgresql_the_scans_use_the_due_indexes(session: Session, deadline: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: set SIPINGTAI_TEST_DATABASE_URL")
    from dispatch.events.deadlines import key_reached, live

    session.execute(text("SET LOCAL enable_seqscan = off"))
    query = select(col(Assignment.id)).where(
        live(deadline),  # type: ignore[arg-type]
        key_reached(deadline, "postgresql", datetime.now(CHINA_TZ)),  # type: ignore[arg-type]
    )
    compiled = query.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    plan = "\n".join(r[0] for r in session.execute(text(f"EXPLAIN {compiled}")).all())
    assert f"ix_assignment_{deadline}_due" in plan, plan
