"""Extensions (延期) in the domain: ask before the deadline, one pending, the limit, lapsing.

Domain-level on the demo county with its users, the clock passed in (`now=`): a C-004 event
in 新市镇 has a lead (the enforcement squad, user zhifa), a cooperating part (market
supervision, shichang) and the township platform's territorial part (township).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from dispatch.core.clock import as_utc, beijing_text, utcnow
from dispatch.core.db import make_engine, session_scope
from dispatch.core.errors import Conflict, Forbidden, InvalidInput
from dispatch.events.models import (
    Assignment,
    Event,
    ExtensionRequest,
    ExtensionStatus,
    Step,
)
from dispatch.events.steps import STEP_ACTION_LABELS
from dispatch.jobs.scheduler import lapse_extensions
from dispatch.loop import assignments
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.reference.models import CountyRules
from dispatch.routing.router import Router
from dispatch.supervision import extensions
from dispatch.supervision.alerts import RED, YELLOW, raise_deadline_alerts
from tests.conftest import demo_database, rolled_back_session
from tests.dispatch.test_parts import People, part, routed_event


@pytest.fixture(scope="module")
def people_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a committed demo county with its demo users."""
    with demo_database(tmp_path_factory.mktemp("ext"), "ext", with_users=True) as url:
        yield url


@pytest.fixture(scope="module")
def router(people_database_url: str) -> Router:
    """Return a router over that county."""
    engine = make_engine(people_database_url)
    with session_scope(engine) as session:
        loaded = Router.load(session, near_distance_m=50.0, threshold=0.5)
    engine.dispose()
    return loaded


@pytest.fixture
def session(people_database_url: str) -> Iterator[Session]:
    """Yield a session whose writes are rolled back after the test."""
    with rolled_back_session(people_database_url) as opened:
        yield opened


class Desk:
    """One routed event and the calls of the extension path on it, as the demo users."""

    def __init__(self, session: Session, router: Router) -> None:
        self.session = session
        self.people = People(session)
        self.event = routed_event(session, router)
        self.calendar: WorkCalendar = load_calendar(session)

    def part(self, role: str = "lead") -> Assignment:
        return part(self.session, self.event, role)

    def ask(
        self,
        days: int = 3,
        *,
        role: str = "lead",
        user: str = "zhifa",
        now: datetime | None = None,
        reason: str | None = "需协调多部门联合整治",
    ) -> ExtensionRequest:
        return extensions.request_extension(
            self.session,
            *self.people(user),
            self.part(role).id or 0,
            working_days=days,
            reason=reason,
            now=now,
        )

    def decide(
        self,
        request: ExtensionRequest,
        *,
        approve: bool = True,
        days: int | None = None,
        note: str | None = "同意",
        now: datetime | None = None,
        user: str = "centre",
    ) -> ExtensionRequest:
        return extensions.decide_extension(
            self.session,
            *self.people(user),
            request.id or 0,
            approve=approve,
            calendar=self.calendar,
            note=note,
            working_days=days,
            now=now,
        )

    def steps(self, action: str) -> list[Step]:
        return list(
            self.session.exec(
                select(Step)
                .where(Step.event_id == self.event.id, Step.action == action)
                .order_by(col(Step.id))
            )
        )


@pytest.fixture
def desk(session: Session, router: Router) -> Desk:
    """Return a freshly routed event to work on."""
    return Desk(session, router)


def deadline_of(part: Assignment) -> datetime:
    assert part.handle_by is not None
    return as_utc(part.handle_by)


def test_approval_moves_the_deadline_by_working_days_on_the_calendar(desk: Desk) -> None:
    lead = desk.part()
    before = deadline_of(lead)
    request = desk.ask(3)
    assert request.status == ExtensionStatus.PENDING
    assert as_utc(request.handle_by_before or before) == before
    (asked,) = desk.steps("extension_requested")
    assert (asked.reason or "").endswith("执法中队 申请延期 3 个工作日：需协调多部门联合整治")

    decided = desk.decide(request, note="情况属实，同意")
    after = desk.calendar.add_working_days(before, 3)
    assert decided.status == ExtensionStatus.APPROVED and decided.granted_days == 3
    assert as_utc(decided.handle_by_before or after) == before
    assert as_utc(decided.handle_by_after or before) == after
    assert deadline_of(desk.part()) == after
    # The event's deadline mirrors the lead's, so it moves too.
    assert desk.event.handle_by is not None and as_utc(desk.event.handle_by) == after
    (step,) = desk.steps("extension_approved")
    assert f"由 {beijing_text(before)} 延至 {beijing_text(after)}" in (step.reason or "")
    assert step.actor_id == desk.people.user("centre").id
    assert after - before >= timedelta(days=3)  # working days: a weekend in between lengthens it


def test_a_cooperating_part_moves_alone(desk: Desk) -> None:
    event_deadline = as_utc(desk.event.handle_by or utcnow())
    co_before = deadline_of(desk.part("co"))
    desk.decide(desk.ask(2, role="co", user="shichang"))
    assert deadline_of(desk.part("co")) == desk.calendar.add_working_days(co_before, 2)
    assert as_utc(desk.event.handle_by or utcnow()) == event_deadline
    assert deadline_of(desk.part("lead")) == event_deadline


def test_the_township_asks_for_its_platforms_part_but_not_for_a_department(desk: Desk) -> None:
    assert desk.ask(1, role="territorial", user="township").status == ExtensionStatus.PENDING
    with pytest.raises(Forbidden):
        desk.ask(1, role="lead", user="township")
    with pytest.raises(Forbidden):
        desk.ask(1, role="lead", user="shichang")
    with pytest.raises(Forbidden):
        desk.ask(1, role="lead", user="grid")


def test_only_the_centre_decides(desk: Desk) -> None:
    request = desk.ask()
    for user in ("zhifa", "township", "bianban"):
        with pytest.raises(Forbidden):
            desk.decide(request, user=user)
    assert request.status == ExtensionStatus.PENDING


def test_fewer_days_may_be_granted_never_more_or_none(desk: Desk) -> None:
    before = deadline_of(desk.part())
    request = desk.ask(5)
    for wrong in (0, 6, -1):
        with pytest.raises(InvalidInput) as refused:
            desk.decide(request, days=wrong)
        assert refused.value.field == "working_days"
    decided = desk.decide(request, days=2)
    assert decided.granted_days == 2 and decided.working_days == 5
    assert deadline_of(desk.part()) == desk.calendar.add_working_days(before, 2)
    assert "批准延期 2 个工作日（申请 5 个）" in (desk.steps("extension_approved")[0].reason or "")


def test_a_refusal_needs_a_note_and_leaves_the_deadline(desk: Desk) -> None:
    before = deadline_of(desk.part())
    request = desk.ask(2)
    with pytest.raises(InvalidInput) as missing:
        desk.decide(request, approve=False, note="  ")
    assert missing.value.field == "note"
    refused = desk.decide(request, approve=False, note="时限充足，不予延期")
    assert refused.status == ExtensionStatus.REFUSED and refused.granted_days == 0
    assert refused.decision_note == "时限充足，不予延期"
    assert deadline_of(desk.part()) == before
    assert "不予延期" in (desk.steps("extension_refused")[0].reason or "")
    # Refused, the part may ask again.
    assert desk.ask(1).status == ExtensionStatus.PENDING


def test_bad_requests_name_their_field(desk: Desk) -> None:
    for days in (0, -3, 367, None):
        with pytest.raises(InvalidInput) as bad:
            desk.ask(days)  # type: ignore[arg-type]
        assert bad.value.field == "working_days"
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput) as bad:
            desk.ask(2, reason=reason)
        assert bad.value.field == "reason"
    with pytest.raises(InvalidInput) as bad:
        desk.decide(desk.ask(2), note=None)
    assert bad.value.field == "note"


def test_one_pending_request_per_part(desk: Desk) -> None:
    desk.ask(2)
    with pytest.raises(Conflict) as second:
        desk.ask(1)
    assert second.value.code == "extension_pending"
    # Another part of the same event asks on its own.
    assert desk.ask(1, role="co", user="shichang").status == ExtensionStatus.PENDING


def test_asking_after_the_deadline_is_refused(desk: Desk) -> None:
    late = deadline_of(desk.part()) + timedelta(minutes=1)
    with pytest.raises(Conflict) as refused:
        desk.ask(2, now=late)
    assert refused.value.code == "deadline_passed" and "已过" in refused.value.message
    early = deadline_of(desk.part()) - timedelta(minutes=1)
    assert desk.ask(2, now=early).status == ExtensionStatus.PENDING


def test_only_a_live_part_asks(desk: Desk) -> None:
    actor, user = desk.people("zhifa")
    assignments.sign(desk.session, actor, user, desk.part().id or 0)
    assert desk.ask(1).status == ExtensionStatus.PENDING  # signed is live
    desk.decide(desk.session.exec(select(ExtensionRequest)).all()[-1])
    assignments.feed_back(desk.session, actor, user, desk.part().id or 0, note="已处置")
    with pytest.raises(Conflict) as refused:
        desk.ask(1)
    assert refused.value.code == "status_conflict" and "「已反馈」" in refused.value.message


def test_the_total_granted_stays_within_the_countys_limit(desk: Desk) -> None:
    desk.decide(desk.ask(15))
    with pytest.raises(Conflict) as asked:
        desk.ask(6)
    assert asked.value.code == "extension_limit"
    assert "20 个工作日" in asked.value.message and "已延期 15 个工作日" in asked.value.message
    request = desk.ask(5)
    desk.decide(request)
    with pytest.raises(Conflict) as full:
        desk.ask(1)
    assert full.value.code == "extension_limit" and "最多还可延期 0 个工作日" in full.value.message


def test_the_limit_is_checked_again_at_approval(desk: Desk) -> None:
    county = desk.event.county_code
    assert county is not None
    desk.session.add(CountyRules(county_code=county, extension_limit_days=4))
    desk.session.flush()
    request = desk.ask(4)
    lowered = desk.session.get(CountyRules, county)
    assert lowered is not None
    lowered.extension_limit_days = 3  # the county lowered its limit meanwhile
    desk.session.add(lowered)
    desk.session.flush()
    with pytest.raises(Conflict) as refused:
        desk.decide(request)
    assert refused.value.code == "extension_limit" and "3 个工作日" in refused.value.message
    assert desk.decide(request, days=3).granted_days == 3


def test_deciding_twice_is_a_conflict_naming_the_state(desk: Desk) -> None:
    request = desk.ask(2)
    desk.decide(request)
    for approve in (True, False):
        with pytest.raises(Conflict) as again:
            desk.decide(request, approve=approve)
        assert again.value.code == "status_conflict" and "「已批准」" in again.value.message


def test_a_request_undecided_past_the_deadline_lapses_in_the_scheduler(desk: Desk) -> None:
    request = desk.ask(2)
    deadline = deadline_of(desk.part())
    assert (
        extensions.lapse_overdue_requests(desk.session, now=deadline - timedelta(minutes=1)) == []
    )
    assert request.status == ExtensionStatus.PENDING
    lapsed = extensions.lapse_overdue_requests(desk.session, now=deadline + timedelta(minutes=1))
    assert lapsed == [request.id]
    desk.session.refresh(request)
    assert request.status == ExtensionStatus.LAPSED
    assert [s.actor for s in desk.steps("extension_lapsed")] == ["系统"]
    # Lapsed, it is no longer pending: a second round lapses nothing.
    assert extensions.lapse_overdue_requests(desk.session, now=deadline + timedelta(days=1)) == []


def test_a_late_decision_lapses_the_request_instead(desk: Desk) -> None:
    request = desk.ask(2)
    before = deadline_of(desk.part())
    decided = desk.decide(request, now=before + timedelta(seconds=1))
    assert decided.status == ExtensionStatus.LAPSED and decided.granted_days is None
    assert deadline_of(desk.part()) == before
    assert len(desk.steps("extension_lapsed")) == 1
    assert desk.steps("extension_approved") == []
    assert extensions.lapsed_refusal().code == "extension_lapsed"


@pytest.mark.parametrize("how", ["feed_back", "return"])
def test_a_request_lapses_when_its_part_stops_being_live(desk: Desk, how: str) -> None:
    actor, user = desk.people("zhifa")
    lead = desk.part()
    assignments.sign(desk.session, actor, user, lead.id or 0)
    request = desk.ask(2)
    if how == "feed_back":
        assignments.feed_back(desk.session, actor, user, lead.id or 0, note="已处置完毕")
    else:
        assignments.return_assignment(
            desk.session, actor, user, lead.id or 0, reason="不属本部门", clause_code="B-009"
        )
    desk.session.refresh(request)
    assert request.status == ExtensionStatus.LAPSED
    (step,) = desk.steps("extension_lapsed")
    assert "已失效" in (step.reason or "")
    with pytest.raises(Conflict) as late:
        desk.decide(request)
    assert "「已失效」" in late.value.message


def test_approval_recomputes_the_warnings(desk: Desk) -> None:
    lead = desk.part()
    created, deadline = as_utc(lead.created_at), deadline_of(lead)
    overdue = deadline + timedelta(minutes=5)
    request = desk.ask(10, now=deadline - timedelta(minutes=5))
    # The scheduler warned yellow while the request waited.
    near = created + (deadline - created) * 0.9
    raise_deadline_alerts(desk.session, now=near)
    assert desk.part().handle_alert == YELLOW
    desk.decide(request, now=near)
    moved = deadline_of(desk.part())
    assert moved > deadline
    assert desk.part().handle_alert < YELLOW  # far from the new deadline: no warning stands
    # The old deadline passing is no longer overdue.
    warned = {
        (a.assignment_id, a.kind, a.level) for a in raise_deadline_alerts(desk.session, now=overdue)
    }
    assert (lead.id, "handle", RED) not in warned
    # The scheduler warns again against the new deadline.
    yellow_again = created + (moved - created) * 0.75
    assert (lead.id, "handle", YELLOW) in {
        (a.assignment_id, a.kind, a.level)
        for a in raise_deadline_alerts(desk.session, now=yellow_again)
    }
    assert (lead.id, "handle", RED) in {
        (a.assignment_id, a.kind, a.level)
        for a in raise_deadline_alerts(desk.session, now=moved + timedelta(minutes=1))
    }


def test_standing_shows_days_left_and_what_the_limit_leaves(desk: Desk) -> None:
    lead = desk.part()
    now = utcnow()
    found = extensions.standing(desk.session, desk.calendar, lead, desk.event, now=now)
    assert found.limit_days == 20 and found.granted_days == 0 and found.grantable_days == 20
    assert found.may_request and found.pending_id is None
    left = desk.calendar.working_time_between(now, deadline_of(lead)) / timedelta(days=1)
    assert found.working_days_left == round(left, 1)
    desk.decide(desk.ask(4))
    request = desk.ask(1)
    found = extensions.standing(desk.session, desk.calendar, desk.part(), desk.event, now=now)
    assert found.granted_days == 4 and found.grantable_days == 16
    assert not found.may_request and found.pending_id == request.id
    assert found.working_days_left is not None and found.working_days_left > left


def test_every_extension_step_is_labelled() -> None:
    for action in (
        "extension_requested",
        "extension_approved",
        "extension_refused",
        "extension_lapsed",
    ):
        assert STEP_ACTION_LABELS[action]


def test_requests_are_read_within_scope(desk: Desk) -> None:
    lead_request = desk.ask(2)
    co_request = desk.ask(1, role="co", user="shichang")
    township_request = desk.ask(1, role="territorial", user="township")

    def seen(user: str, status: ExtensionStatus | None = None) -> set[int | None]:
        rows = extensions.list_requests(desk.session, desk.people.actor(user), status=status)
        return {r.id for r, _, _ in rows if r.event_id == desk.event.id}

    every = {lead_request.id, co_request.id, township_request.id}
    assert seen("centre") == every and seen("bianban") == every
    assert seen("zhifa") == {lead_request.id}
    assert seen("shichang") == {co_request.id}
    assert seen("township") == {township_request.id}
    with pytest.raises(Forbidden):
        seen("grid")
    desk.decide(co_request)
    assert seen("centre", ExtensionStatus.PENDING) == {lead_request.id, township_request.id}
    assert seen("centre", ExtensionStatus.APPROVED) == {co_request.id}
    with pytest.raises(Forbidden):
        extensions.get_request(desk.session, desk.people.actor("zhifa"), co_request.id or 0)
    found, _, event = extensions.get_request(
        desk.session, desk.people.actor("shichang"), co_request.id or 0
    )
    assert found.id == co_request.id and isinstance(event, Event)


# ---- The scheduler's round, on a committed database ---------------------------------------


@pytest.fixture(scope="module")
def committed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo county of its own: the scheduler's round commits."""
    with demo_database(tmp_path_factory.mktemp("ext-jobs"), "extjobs", with_users=True) as url:
        yield url


def test_the_schedulers_round_lapses_what_the_clock_passed(committed_url: str) -> None:
    engine = make_engine(committed_url)
    with session_scope(engine) as session:
        router = Router.load(session, near_distance_m=50.0, threshold=0.5)
        desk = Desk(session, router)
        asked = desk.ask(2)
        kept = desk.ask(1, role="co", user="shichang")
        lead_deadline = deadline_of(desk.part())
        co = desk.part("co")
        co.handle_by = lead_deadline + timedelta(days=3)  # its own, later deadline
        session.add(co)
        ids = (asked.id, kept.id)
    try:
        assert lapse_extensions(engine, None, now=lead_deadline - timedelta(minutes=1)) == 0
        assert lapse_extensions(engine, None, now=lead_deadline + timedelta(minutes=1)) == 1
        assert lapse_extensions(engine, None, now=lead_deadline + timedelta(minutes=2)) == 0
        with Session(engine) as session:
            statuses = [session.get(ExtensionRequest, i) for i in ids]
            assert [r.status if r else None for r in statuses] == [
                ExtensionStatus.LAPSED,
                ExtensionStatus.PENDING,
            ]
            (step,) = session.exec(select(Step).where(Step.action == "extension_lapsed")).all()
            assert step.actor == "系统" and step.at is not None
    finally:
        engine.dispose()
