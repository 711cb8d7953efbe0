"""The migrated schema and the rolled-back session fixture."""

from sqlmodel import Session, select

from dispatch.reference.models import Platform


def test_migration_seeds_the_four_default_platforms(session: Session) -> None:
    names = session.exec(select(Platform.name).order_by(Platform.sort_order)).all()
    assert names == ["综治工作", "市场监管", "综合执法", "便民服务"]


def test_writes_in_one_test_do_not_leak_into_the_next(session: Session) -> None:
    session.add(Platform(code="leak_probe", name="探针", sort_order=99))
    session.commit()
    assert session.get(Platform, "leak_probe") is not None


def test_previous_test_was_rolled_back(session: Session) -> None:
    assert session.get(Platform, "leak_probe") is None
