"""The staffing office's review: one draft per county, effective dates in China time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from dispatch.core.clock import local_date, utcnow
from dispatch.core.errors import Forbidden
from dispatch.disputes.changes import propose_change
from dispatch.disputes.models import ListChangeKind, ListChangeSource, ListChangeStatus
from dispatch.disputes.review import accept_change, publish_draft
from dispatch.disputes.schemas import ListChangeProposal
from dispatch.reference.lists.versions import list_in_force
from dispatch.reference.models import Department, ListStatus, MatterList
from dispatch.users.models import User
from tests.conftest import demo_database, rolled_back_session

COUNTY = "320999"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_database(tmp_path_factory.mktemp("review"), "review", with_users=True) as url:
        yield url


@pytest.fixture
def session(url: str) -> Iterator[Session]:
    with rolled_back_session(url) as session:
        yield session


def user(session: Session, name: str) -> User:
    return session.exec(select(User).where(User.username == name)).one()


def department(session: Session, name: str) -> int:
    found = session.exec(select(Department.id).where(Department.name == name)).one()
    assert found is not None
    return found


def keywords(session: Session, *words: str) -> int:
    body = ListChangeProposal(
        kind=ListChangeKind.ADD_KEYWORDS,
        matter_code="C-004",
        keywords=list(words),
        reasons="群众常这样说",
    )
    change = propose_change(
        session,
        user(session, "township"),
        body,
        county_code=COUNTY,
        source=ListChangeSource.WRITTEN,
    )
    assert change.id is not None
    return change.id


def test_requests_fold_into_one_draft_and_only_the_staffing_office_reviews(
    session: Session,
) -> None:
    first, second = keywords(session, "早市"), keywords(session, "夜摊")
    with pytest.raises(Forbidden):
        accept_change(session, user(session, "centre"), first, None)
    one = accept_change(session, user(session, "bianban"), first, "同意")
    two = accept_change(session, user(session, "bianban"), second, None)
    assert one.draft_list_id is not None and one.draft_list_id == two.draft_list_id
    drafts = session.exec(
        select(MatterList).where(
            MatterList.county_code == COUNTY, MatterList.status == ListStatus.DRAFT
        )
    ).all()
    assert [d.id for d in drafts] == [one.draft_list_id]
    assert one.status == ListChangeStatus.ACCEPTED and one.review_note == "同意"


def test_a_version_takes_effect_at_midnight_beijing_time(session: Session) -> None:
    change = accept_change(session, user(session, "bianban"), keywords(session, "早市"), None)
    assert change.draft_list_id is not None
    tomorrow = local_date(utcnow()) + timedelta(days=1)
    before = list_in_force(session, COUNTY, utcnow())
    assert before is not None
    published = publish_draft(session, user(session, "bianban"), change.draft_list_id, tomorrow)
    assert published.status == ListStatus.PUBLISHED and not published.in_force
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC) - timedelta(
        hours=8
    )
    still = list_in_force(session, COUNTY, midnight - timedelta(minutes=1))
    then = list_in_force(session, COUNTY, midnight)
    assert still is not None and still.id == before.id  # 23:59 in Beijing, 15:59 UTC
    assert then is not None and then.id == change.draft_list_id  # 00:00 in Beijing
