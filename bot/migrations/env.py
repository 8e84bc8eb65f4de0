"""Alembic environment: the project's own tables (bot.db.Base), never Rasa's."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.schema import SchemaItem

from bot import migrate

config = context.config
target_metadata = migrate.metadata()
# Rasa's tracker store may share the database (PostgreSQL in production): its tables are not ours
FOREIGN_TABLES = {"events"}


def include_object(
    obj: SchemaItem,
    name: str | None,
    type_: str,
    reflected: bool,  # noqa: ARG001 - hook
    compare_to: SchemaItem | None,
) -> bool:
    """Leave out Rasa's tables, and tables the database has but the models do not (never drop them)."""
    return not (type_ == "table" and (name in FOREIGN_TABLES or (reflected and compare_to is None)))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes["connection"]  # bot.migrate passes one, inside its transaction
    if connection.dialect.name == "postgresql":
        # two instances starting at once: one migrates, the other waits, then finds nothing to do
        connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    # SQLite cannot ALTER most things: batch mode copies the table instead
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
