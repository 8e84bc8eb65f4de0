"""Facts files (data/facts/*.yml) written for a test (a small valid one, a writer), and reading back what was loaded."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bot import db
from bot.store import facts

GOOD = """\
facts:
  - key: licence.validity
    topic: validity
    intent: ask_validity
    question: 有效期多久？
    answer: 有效期为5年。
    sources:
      - document: 电信业务经营许可管理办法
        article: 第13条
    confidence: H
    effective: 2017-09-01
    verified: 2026-11-29
    corrections:
      - claim: 长期有效
        current: 有效期5年。
        since: "2017"
  - key: unconfirmed.upgrade
    topic: upgrade
    answer: 尚无定论。
    sources:
      - document: 公开资料
    confidence: U
    verified: 2026-11-29
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``tmp_path / name``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def history(url: str, key: str) -> list[tuple]:
    """(version, author, reason) of a fact's versions, oldest first."""
    with db.session_scope(url) as session:
        return [(v.version, v.author, v.reason) for v in reversed(facts.versions(key, session=session))]


def knowledge(url: str) -> dict:
    """Everything a fact is, by key: content, topic, intent and place in the files."""
    with db.session_scope(url) as session:
        return {
            f.key: (facts.content_of(f), f.topic, f.intent, f.source_file, f.source_position)
            for f in facts.all_facts(session=session)
        }


def edit(url: str, key: str, editor: str = "admin1", reason: str = "复核", **changes):
    """Edit a fact as staff do (a new version); return its version number, None when nothing changed."""
    with db.session_scope(url) as session:
        version = facts.edit_fact(key, changes, editor, reason, session=session)
        return version.version if version else None
