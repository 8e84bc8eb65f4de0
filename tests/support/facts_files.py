"""Facts files (data/facts/*.yml) written for a test: a small valid one, and a writer."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
