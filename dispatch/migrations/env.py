"""Alembic environment: runs our migrations against the configured URL."""

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel

from dispatch.core.db import make_engine

# Importing the model modules registers every table on SQLModel.metadata.
from dispatch.delivery import models as _delivery  # noqa: F401
from dispatch.disputes import models as _disputes  # noqa: F401
from dispatch.events import models as _events  # noqa: F401
from dispatch.reference import models as _reference  # noqa: F401
from dispatch.reports import models as _reports  # noqa: F401
from dispatch.users import models as _users  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live connection; batch mode so SQLite can alter tables."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        url = config.get_main_option("sqlalchemy.url")
        assert url
        engine = make_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
