"""SQLite databases for the tests: the project's facts, and copies of a database prepared once per run."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot import db
from bot.settings import PROJECT_ROOT

FACTS_DIR = PROJECT_ROOT / "data" / "facts"


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


def copy(template_url: str, path: Path) -> str:
    """A fresh database at ``path`` holding what ``template_url`` holds (a file copy: no migration to re-run)."""
    db.get_engine(template_url).dispose()  # nothing of the template is left in a connection's cache
    shutil.copyfile(sqlite_path(template_url), path)
    return f"sqlite:///{path}"
