"""Which parts an event waits for: every live part, the township's territorial one included.

Domain-level, on the demo county with its users: an event of 占道经营 (C-004) in 新市镇 gets
a lead (the enforcement bureau's squad), a cooperating part (market supervision) and the
township's territorial part; the combinations are made by leaving some parts out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.db import alembic_config, make_engine, session_scope
from dispatch.core.errors import Conflict, InvalidInput
from dispatch.events.intake import report_event
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    EventStatus,
    Step,
)
from dispatch.loop import assignments, verification
from dispatch.loop.dispatching import route_events
from dispatch.reference.calendar import load_calendar
from dispatch.reference.models import Department
from dispatch.routing.router import Router
from dispatch.supervision.alerts import raise_deadline_alerts
from dispatch.users.models import User
from dispatch.users.policy import Actor
from dispatch.users.scopes import actor_for
from tests.conftest import demo_database, rolled_back_session
from tests.helpers import new_report

ROLES = ("lead", "co", "territorial")
# Who holds each part of a C-004 event in 新市镇, by demo user.
HOLDER = {"lead": "zhifa", "co": "shichang", "territorial": "township"}


@pytest.fixture(scope="module")
def people_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create a committed demo county with its demo users."""
    with demo_database(tmp_path_factory.mktemp("parts"), "parts", with_users=True) as url:
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


class People:
    """The demo users of a session, as users and as the rules see them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def user(self, username: str) -> User:
        return self.session.exec(select(User).where(User.username == username)).one()

    def actor(self, username: str) -> Actor:
        return actor_for(self.session, self.user(username))

    def __call__(self, username: str) -> tuple[Actor, User]:
        return self.actor(username), self.user(username)


def routed_event(session: Session, router: Router, keep: tuple[str, ...] = ROLES) -> Event:
    """Report and route a C-004 event, then leave out the parts not kept (as a merge would)."""
    event = report_event(session, router, new_report(matter_code="C-004")).event
    route_events(session, router, load_calendar(session), [event.id or 0])
    for part in parts(session, event):
        if part.role not in keep:
            part.status = AssignmentStatus.CANCELLED
            session.add(part)
    session.flush()
    return event


def parts(session: Session, event: Event) -> list[Assignment]:
    return list(
        session.exec(
            select(Assignment).where(Assignment.event_id == event.id).order_by(col(Assignment.id))
        )
    )


def part(session: Session, event: Event, role: str) -> Assignment:
    live = [a for a in parts(session, event) if a.status != AssignmentStatus.CANCELLED]
    (found,) = [a for a in live if a.role == role]
    return found


def reread(session: Session, row: object) -> None:
    """Write what the session holds, then read the row back from the database."""
    session.flush()
    session.refresh(row)


def sign_and_feed_back(session: Session, people: People, event: Event, role: str) -> None:
    holder = part(session, event, role)
    actor, user = people(HOLDER[role])
    if holder.status == AssignmentStatus.PENDING:
        assignments.sign(session, actor, user, holder.id or 0)
    assignments.feed_back(session, actor, user, holder.id or 0, note=f"{role} 已处置")


ORDERS = [
    order
    for size in (1, 2, 3)
    for kept in itertools.combinations(ROLES, size)
    for order in itertools.permutations(kept)
]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_an_event_is_resolved_when_its_last_live_part_is_fed_back(
    session: Session, router: Router, order: tuple[str, ...]
) -> None:
    people = People(session)
    event = routed_event(session, router, keep=order)
    for done, role in enumerate(order, start=1):
        sign_and_feed_back(session, people, event, role)
        reread(session, event)
        finished = done == len(order)
        assert (event.status == EventStatus.RESOLVED) is finished, (role, event.status)
    resolving = session.exec(
        select(Step).where(Step.event_id == event.id, Step.action == "all_fed_back")
    ).all()
    assert len(resolving) == 1


def test_the_township_feeds_back_its_part_after_the_departments(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    sign_and_feed_back(session, people, event, "lead")
    sign_and_feed_back(session, people, event, "co")
    reread(session, event)
    assert event.status == EventStatus.IN_PROGRESS  # the territorial part is still open
    sign_and_feed_back(session, people, event, "territorial")
    reread(session, event)
    assert event.status == EventStatus.RESOLVED


def test_a_returned_part_keeps_the_event_open_until_the_centre_rules(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    co = part(session, event, "co")
    assignments.return_assignment(
        session, *people("shichang"), co.id or 0, reason="非本部门职责", clause_code="C-004"
    )
    sign_and_feed_back(session, people, event, "lead")
    sign_and_feed_back(session, people, event, "territorial")
    reread(session, event)
    assert event.status == EventStatus.IN_PROGRESS
    assignments.refuse_return(session, *people("centre"), co.id or 0, reason="清单列明协同")
    sign_and_feed_back(session, people, event, "co")
    reread(session, event)
    assert event.status == EventStatus.RESOLVED


def test_the_verifier_closes_a_part_that_no_longer_applies(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    sign_and_feed_back(session, people, event, "lead")
    sign_and_feed_back(session, people, event, "territorial")
    co = part(session, event, "co")
    with pytest.raises(InvalidInput) as missing:
        verification.close_part(session, *people("township"), co.id or 0, reason="  ")
    assert missing.value.field == "reason"
    verification.close_part(session, *people("township"), co.id or 0, reason="摊贩已自行离开")
    reread(session, event)
    reread(session, co)
    assert co.status == AssignmentStatus.CANCELLED
    assert event.status == EventStatus.RESOLVED
    closing = session.exec(
        select(Step).where(Step.assignment_id == co.id, Step.action == "close_part")
    ).one()
    assert "摊贩已自行离开" in (closing.reason or "")


def test_the_lead_part_is_not_closed_by_the_verifier(session: Session, router: Router) -> None:
    people = People(session)
    event = routed_event(session, router)
    lead = part(session, event, "lead")
    with pytest.raises(InvalidInput):
        verification.close_part(session, *people("township"), lead.id or 0, reason="不需要")
    reread(session, lead)
    assert lead.status == AssignmentStatus.PENDING


def test_a_department_may_not_close_a_part(session: Session, router: Router) -> None:
    people = People(session)
    event = routed_event(session, router)
    co = part(session, event, "co")
    with pytest.raises(Exception) as refused:
        verification.close_part(session, *people("shichang"), co.id or 0, reason="不想做")
    assert type(refused.value).__name__ == "Forbidden"


def test_a_closed_event_holds_no_open_part_and_raises_no_warning(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    still_open = routed_event(session, router)  # the control: its parts are warned about
    for role in ROLES:
        sign_and_feed_back(session, people, event, role)
    verification.verify(session, *people("township"), event.id or 0, passed=True, note=None)
    verification.close(session, *people("township"), event.id or 0)
    assert {a.status for a in parts(session, event)} == {AssignmentStatus.FED_BACK}
    alerts = raise_deadline_alerts(session, now=utcnow() + timedelta(days=60))
    warned = {a.assignment_id for a in alerts}
    assert {a.id for a in parts(session, still_open)} <= warned
    assert not warned & {a.id for a in parts(session, event)}


def test_a_failed_verification_sends_every_part_back_the_territorial_one_too(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    for role in ROLES:
        sign_and_feed_back(session, people, event, role)
    verification.verify(session, *people("township"), event.id or 0, passed=False, note="未整改")
    assert {a.role: a.status for a in parts(session, event)} == {
        AssignmentRole.LEAD: AssignmentStatus.SIGNED,
        AssignmentRole.CO: AssignmentStatus.SIGNED,
        AssignmentRole.TERRITORIAL: AssignmentStatus.SIGNED,
    }


def test_an_old_resolved_event_with_an_open_part_is_not_verified_until_it_is_fed_back(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    sign_and_feed_back(session, people, event, "lead")
    sign_and_feed_back(session, people, event, "co")
    event.status = EventStatus.RESOLVED  # what the old rule did
    session.add(event)
    session.flush()
    with pytest.raises(Conflict):
        verification.verify(session, *people("township"), event.id or 0, passed=True, note=None)
    sign_and_feed_back(session, people, event, "territorial")  # no longer refused
    verified = verification.verify(
        session, *people("township"), event.id or 0, passed=True, note=None
    )
    assert verified.status == EventStatus.VERIFIED


# ---- A department and its own unit never hold two parts ---------------------------------


def department(session: Session, name: str) -> Department:
    return session.exec(select(Department).where(Department.name == name)).one()


def test_redispatching_the_lead_to_a_cooperators_agency_folds_the_cooperating_part(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    lead, co = part(session, event, "lead"), part(session, event, "co")
    assignments.return_assignment(
        session, *people("zhifa"), lead.id or 0, reason="系市场经营户", clause_code="B-009"
    )
    market = department(session, "县市场监督管理局")
    fresh = assignments.redispatch(
        session, *people("centre"), lead.id or 0, department_id=market.id or 0, reason="属市场监管"
    )
    reread(session, co)
    assert co.status == AssignmentStatus.CANCELLED
    holders = [a.department_id for a in parts(session, event) if a.status != "cancelled"]
    assert holders.count(market.id or 0) == 1 and fresh.department_id == market.id
    folded = session.exec(select(Step).where(Step.assignment_id == co.id, Step.action == "cancel"))
    assert "并入牵头任务" in (folded.one().reason or "")


def test_a_cooperating_part_is_not_redispatched_to_the_leads_own_agency(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    co = part(session, event, "co")
    assignments.return_assignment(
        session, *people("shichang"), co.id or 0, reason="非本部门", clause_code="C-004"
    )
    enforcement = department(session, "县综合行政执法局")  # its squad already leads
    with pytest.raises(InvalidInput) as refused:
        assignments.redispatch(
            session, *people("centre"), co.id or 0, department_id=enforcement.id or 0, reason="x"
        )
    assert refused.value.field == "department_id" and "已通过" in refused.value.message
    reread(session, co)
    assert co.status == AssignmentStatus.RETURNED


# ---- The clause a return cites ----------------------------------------------------------


def test_a_return_cites_a_row_of_the_list_that_routed_the_event(
    session: Session, router: Router
) -> None:
    people = People(session)
    event = routed_event(session, router)
    lead = part(session, event, "lead")
    with pytest.raises(InvalidInput) as unknown:
        assignments.return_assignment(
            session, *people("zhifa"), lead.id or 0, reason="不是我们的", clause_code="随便写的"
        )
    assert unknown.value.field == "clause_code"
    returned = assignments.return_assignment(
        session,
        *people("zhifa"),
        lead.id or 0,
        reason="系市场经营户货物",
        clause_code="b-009",
        clause_note="农贸市场内",
    )
    assert returned.return_clause is not None
    assert "「农贸市场经营秩序及活禽违规交易」" in returned.return_clause
    assert "牵头 县市场监督管理局" in returned.return_clause
    assert returned.return_clause.endswith("；农贸市场内")
    step = session.exec(select(Step).where(Step.assignment_id == lead.id, Step.action == "return"))
    cited = (step.one().data or {})["cited"]
    assert isinstance(cited, dict)
    assert cited["code"] == "B-009" and cited["list_id"] == event.matter_list_id


# ---- The data left by the old rule ------------------------------------------------------


def test_the_migration_closes_parts_left_open_on_finished_events(tmp_path: object) -> None:
    from pathlib import Path

    with demo_database(Path(str(tmp_path)), "legacy", with_users=True) as url:
        engine = make_engine(url)
        with session_scope(engine) as session:
            loaded = Router.load(session, near_distance_m=50.0, threshold=0.5)
            people = People(session)
            closed = routed_event(session, loaded)
            waiting = routed_event(session, loaded)
            for event in (closed, waiting):
                sign_and_feed_back(session, people, event, "lead")
                sign_and_feed_back(session, people, event, "co")
            ids = (closed.id, waiting.id)
        with engine.begin() as connection:  # the old rule: closed, rated with 属地 still open
            for event_id, status in zip(ids, ("rated", "resolved"), strict=True):
                connection.execute(
                    update(Event).where(col(Event.id) == event_id).values(status=status)
                )
        config = alembic_config(url)
        command.downgrade(config, "0006")
        command.upgrade(config, "head")
        with Session(engine) as session:
            by_event = {
                event_id: {
                    a.role: a.status
                    for a in session.exec(select(Assignment).where(Assignment.event_id == event_id))
                }
                for event_id in ids
            }
            repaired = session.exec(
                select(Step).where(Step.event_id == ids[0], Step.action == "close_part")
            ).all()
        engine.dispose()
    assert by_event[ids[0]][AssignmentRole.TERRITORIAL] == AssignmentStatus.CANCELLED
    assert by_event[ids[0]][AssignmentRole.LEAD] == AssignmentStatus.FED_BACK
    assert by_event[ids[1]][AssignmentRole.TERRITORIAL] == AssignmentStatus.PENDING
    assert len(repaired) == 1 and "数据修复" in (repaired[0].reason or "")


def test_every_action_on_a_part_or_an_event_has_a_chinese_name() -> None:
    from dispatch.events.lifecycle import (
        ASSIGNMENT_ACTION_LABELS,
        EVENT_ACTION_LABELS,
        AssignmentAction,
        EventAction,
    )

    assert set(ASSIGNMENT_ACTION_LABELS) == set(AssignmentAction)
    assert set(EVENT_ACTION_LABELS) == set(EventAction)
