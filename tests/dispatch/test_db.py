"""The migrated schema and the rolled-back session fixture."""

import pytest
from sqlmodel import Session, col, select

from dispatch.reference.models import Platform


def test_migration_seeds_the_four_default_platforms(session: Session) -> None:
    names = session.exec(select(Platform.name).order_by(col(Platform.sort_order))).all()
    assert names == ["综治工作", "市场监管", "综合执法", "便民服务"]


def test_writes_in_one_test_do_not_leak_into_the_next(session: Session) -> None:
    session.add(Platform(code="leak_probe", name="探针", sort_order=99))
    session.commit()
    assert session.get(Platform, "leak_probe") is not None


def test_previous_test_was_rolled_back(session: Session) -> None:
    assert session.get(Platform, "leak_probe") is None


def test_enum_columns_read_back_members_and_refuse_stray_strings(session: Session) -> None:
    from sqlalchemy.exc import StatementError

    from dispatch.reference.models import Department, DepartmentKind

    session.add(Department(name="枚举探针局", kind=DepartmentKind.COUNTY_DEPARTMENT))
    session.flush()
    session.expire_all()
    found = session.exec(select(Department).where(Department.name == "枚举探针局")).one()
    assert found.kind is DepartmentKind.COUNTY_DEPARTMENT
    session.add(Department(name="错误类型局", kind="county_dept"))  # type: ignore[arg-type]
    with pytest.raises(StatementError, match="county_dept"):
        session.flush()
