"""The project's database schema through Alembic: upgrade, current and newest revision, the models' metadata.

A database created before migrations existed (by ``create_all``) is
upgraded like any other: the baseline revision adds only the tables it lacks,
so every row is kept. The command is ``python -m tools.migrate``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot import db

SCRIPTS = Path(__file__).resolve().parent / "migrations"


def metadata() -> sa.MetaData:
    """Import every model module so that Base.metadata lists all the project's tables."""
    from bot.store import (  # noqa: F401 - for their tables
        conversations,
        facts,
        handoffs,
        leads,
        staff,
        summaries,
        wechat,
        wecom_kf,
    )

    return db.Base.metadata


def alembic_config(connection: sa.engine.Connection | None = None, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision in bot/migrations/versions."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # only if the versions folder lost its files: the package is broken
        raise RuntimeError(f"no migrations in {SCRIPTS / 'versions'}")
    return revision


def current(url: str) -> str | None:
    with db.get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> str | None:
    """Bring ``url`` to ``revision``; return the revision it is at afterwards (None: below the first)."""
    with db.get_engine(url).begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    return current(url)
