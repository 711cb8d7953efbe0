"""The migrated schema and the rolled-back session fixture."""

import pytest
from sqlalchemy import Engine
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


def test_the_migrations_build_the_schema_the_models_declare(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_ids_past_32_bits_are_stored_and_read_back(session: Session) -> None:
    from dispatch.reference.models import Department, DepartmentKind

    big = 2**63 - 1
    session.add(Department(id=big, name="大号探针局", kind=DepartmentKind.COUNTY_DEPARTMENT))
    session.add(Department(name="下属探针所", kind=DepartmentKind.STATIONED_UNIT, parent_id=big))
    session.flush()
    session.expire_all()
    child = session.exec(select(Department).where(Department.name == "下属探针所")).one()
    assert child.parent_id == big
    assert session.get(Department, big) is not None
