"""Alembic environment: metadata from opssight.models, URL from Settings (or the caller)."""

from sqlmodel import SQLModel

import opssight.models  # noqa: F401  (registers every table on SQLModel.metadata)
from alembic import context
from opssight.db import get_engine
from opssight.models.history import include_name

config = context.config
url = config.attributes.get("database_url")


def run_offline() -> None:
    context.configure(
        url=url or get_engine().url,
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with get_engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=True,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
