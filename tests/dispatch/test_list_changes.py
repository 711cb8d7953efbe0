"""List change requests: checked against the list in force before anyone reviews them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput
from dispatch.disputes.changes import propose_change
from dispatch.disputes.models import ListChange, ListChangeKind, ListChangeSource, ListChangeStatus
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.reference.lists.rules import MatterRules
from dispatch.reference.lists.versions import rules_in_force
from dispatch.reference.models import Department
from dispatch.users.models import User
from tests.conftest import demo_database, rolled_back_session

COUNTY = "320999"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_database(tmp_path_factory.mktemp("changes"), "changes", with_users=True) as url:
        yield url


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    with rolled_back_session(url) as session:
        yield session


def in_force(session: Session) -> MatterRules:
    rules = rules_in_force(session, COUNTY, utcnow())
    assert rules is not None
    return rules


def user(session: Session, name: str) -> User:
    return session.exec(select(User).where(User.username == name)).one()


def another_department(session: Session, *not_these: int | None) -> int:
    ids = session.exec(select(Department.id).order_by(col(Department.id))).all()
    return next(i for i in ids if i is not None and i not in not_these)


def propose(session: Session, who: str = "zhifa", **fields: object) -> ListChange:
    body = ListChangeProposal.model_validate({"reasons": "多次退回，职责不清", **fields})
    return propose_change(
        session, user(session, who), body, county_code=COUNTY, source=ListChangeSource.WRITTEN
    )


def test_a_written_application_to_move_a_lead_is_pending_with_its_basis_and_applicant(
    session: Session,
) -> None:
    matter = in_force(session).matters[0]
    new_lead = another_department(session, matter.lead_department_id)
    change = propose(
        session,
        kind="move_lead",
        matter_code=matter.code.lower(),
        lead_department_id=new_lead,
        basis="《县机构职能规定》第三条",
    )
    assert change.status == ListChangeStatus.PENDING
    assert change.matter_code == matter.code
    assert change.proposal == {"lead_department_id": new_lead}
    assert change.applicant == "县综合行政执法局"
    assert change.base_list_id == in_force(session).list_id


def test_a_proposal_that_changes_nothing_is_refused_naming_the_field(session: Session) -> None:
    matter = in_force(session).matters[0]
    with pytest.raises(InvalidInput) as same_lead:
        propose(
            session,
            kind="move_lead",
            matter_code=matter.code,
            lead_department_id=matter.lead_department_id,
        )
    assert same_lead.value.field == "lead_department_id"
    with pytest.raises(InvalidInput) as known_words:
        propose(
            session,
            kind="add_keywords",
            matter_code=matter.code,
            keywords=list(matter.keywords[:1]),
        )
    assert known_words.value.field == "keywords"


def test_unknown_matters_departments_and_events_are_refused(session: Session) -> None:
    matter = in_force(session).matters[0]
    with pytest.raises(InvalidInput) as no_matter:
        propose(session, kind="add_keywords", matter_code="Z-999", keywords=["新词"])
    assert no_matter.value.field == "matter_code"
    with pytest.raises(InvalidInput) as no_department:
        propose(session, kind="add_co", matter_code=matter.code, co_department_ids=[987654])
    assert no_department.value.field == "co_department_ids"
    with pytest.raises(InvalidInput) as no_event:
        propose(
            session,
            kind="add_keywords",
            matter_code=matter.code,
            keywords=["新词"],
            event_ids=[987654],
        )
    assert no_event.value.field == "event_ids"


def test_a_new_matter_needs_a_fresh_code_a_name_and_a_lead(session: Session) -> None:
    taken = in_force(session).matters[0].code
    lead = another_department(session)
    with pytest.raises(InvalidInput) as clash:
        propose(
            session, kind="new_matter", matter_code=taken, name="新事项", lead_department_id=lead
        )
    assert clash.value.field == "matter_code"
    with pytest.raises(InvalidInput) as unnamed:
        propose(session, kind="new_matter", matter_code="N-001", lead_department_id=lead)
    assert unnamed.value.field == "name"
    change = propose(
        session,
        who="township",
        kind="new_matter",
        matter_code="N-001",
        name="共享单车乱停放",
        lead_department_id=lead,
        keywords=["共享单车", "乱停放", "共享单车"],
        handle_days=3,
    )
    assert change.kind == ListChangeKind.NEW_MATTER
    assert change.proposal["keywords"] == ["共享单车", "乱停放"]
    assert change.applicant == "新市镇"
