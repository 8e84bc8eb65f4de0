"""The serving app's settings and database, for views (as flaskr's ``get_db``)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from flask import current_app
from sqlalchemy.orm import Session

from bot import db
from bot.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"


def settings() -> Settings:
    """The settings ``create_app`` was built with."""
    return current_app.config["SETTINGS"]


@contextmanager
def session() -> Iterator[Session]:
    """One unit of work on the app's database; commits on success."""
    with db.session_scope(settings().database_url) as unit:
        yield unit
