"""Database engines and units of work, for every table the project owns.

One pooled engine per URL per process; a session per unit of work.
SQLite files under var/ by default, any SQLAlchemy URL (PostgreSQL) otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, declarative_base, sessionmaker

# The one metadata of every table the project owns (Rasa's own tables are not in it);
# bot/migrations builds and upgrades the schema from it. SQLAlchemy 1.4 ships no type information
# (its stubs are a separate package for the mypy plugin): the model classes are dynamic to mypy.
Base: Any = declarative_base()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """Return the (pooled) engine for ``url``, creating SQLite's folder if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, future=True, pool_pre_ping=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Open a session for one unit of work; commit on success."""
    session = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def utcnow() -> dt.datetime:
    """Naive UTC now: what every DateTime column stores."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def safe_url(url: str) -> str:
    """``url`` as it may be printed or logged: the password replaced by ``***`` (S6)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: hide whatever sits between "user:" and "@"
        return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


def without_password(text: str, url: str) -> str:
    """``text`` (an error message, which may quote ``url``) with the URL's password replaced by ``***``."""
    try:
        password = make_url(url).password
    except Exception:
        match = re.search(r"//[^:/@]*:([^@/]*)@", url)
        password = match.group(1) if match else None
    return text.replace(str(password), "***") if password else text
