"""Write the facts database back to ``data/facts/*.yml``, keeping the files' layout.

Each fact goes into the file it was loaded from, in its place. A fact whose
content equals its row in the existing file keeps that row's text byte for
byte (comments, line breaks, quoting); a changed or new fact is written in the
files' style. Loading the export gives the same facts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from bot import migrate
from bot.db import session_scope
from bot.facts_files.loader import FactsFileError, parse_file
from bot.store.facts import Fact, _is_wide, content_of, fold_whitespace

WRAP = 70  # at most this many characters per line of a folded answer (the files' hand-written lines)
FOLD_OVER = 40  # longer answers are written as folded blocks
# where a line may end, best first: after a sentence, after a clause
BREAK_AFTER = ("。；！？", "，、：）」』”")


@dataclass
class ExportReport:
    out: Path
    facts: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # facts in the existing files that the database does not have (left out of the export)
    dropped: list[str] = field(default_factory=list)
    # files whose current text could not be read: written afresh (their comments are gone)
    reformatted: list[str] = field(default_factory=list)
    # facts whose database text the loader would fold differently (made before console text was folded)
    refolds: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"exported {self.facts} facts to {self.out}: {len(self.written)} file(s) written, "
            f"{len(self.unchanged)} unchanged"
        )
        for label, items in (
            ("written", self.written),
            ("left out (not in the database)", self.dropped),
            ("rewritten without their old text (not valid)", self.reformatted),
            ("text a reload folds differently", self.refolds),
        ):
            if items:
                text += f"\n  {label}: {', '.join(items)}"
        return text


def fact_row(fact: Fact) -> dict:
    """A database fact as the loader reads its row from a file (``_validate_row``'s shape)."""
    content = content_of(fact)
    return {
        "key": fact.key,
        "topic": fact.topic,
        "intent": fact.intent,
        "question": content["question"],
        "answer": content["answer"],
        "confidence_note": content["confidence_note"],
        "confidence": content["confidence"],
        "sources": content["sources"],
        "effective": fact.effective_date,
        "verified": fact.verified_date,
        "data": content["data"],
        "variants": content["variants"],
        "corrections": [{**c, "kind": c.get("kind", "outdated")} for c in content["corrections"]],
    }


def _quoted(text: str) -> str:
    # a JSON string is a valid YAML double-quoted scalar
    return json.dumps(text, ensure_ascii=False)


def _scalar(text: str) -> str:
    """A string value after ``key: ``: plain when it reads back as itself, else double-quoted."""
    try:
        plain = text == text.strip() and text.isprintable() and yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        plain = False
    return text if plain else _quoted(text)


def _flow_scalar(text: str) -> str:
    """A key or value inside ``{...}`` (a variant's ``when``)."""
    try:
        plain = bool(re.fullmatch(r"[^\s,\[\]{}:#\"'*&!|>%@`]+", text)) and yaml.safe_load(f"{{{text}: {text}}}") == {
            text: text
        }
    except yaml.YAMLError:
        plain = False
    return text if plain else _quoted(text)


def _breaks(text: str, limit: int) -> Optional[tuple[int, int]]:
    """Where to end the first line of ``text`` (end, start of the next): a space, or beside a wide character."""

    def breakable(p: int) -> Optional[tuple[int, int]]:
        before, after = text[p - 1], text[p]
        if after == " ":
            return (p, p + 1)
        if before != " " and (_is_wide(before) or _is_wide(after)):
            return (p, p)
        return None

    for marks in BREAK_AFTER:  # a sentence or clause end in the second half of the line
        for p in range(min(limit, len(text) - 1), limit // 2, -1):
            if text[p - 1] in marks and breakable(p):
                return breakable(p)
    for p in list(range(limit, 0, -1)) + list(range(limit + 1, len(text))):
        if breakable(p):
            return breakable(p)
    return None


def _wrap(text: str) -> list[str]:
    """Lines of a folded block that the loader joins back into ``text`` (``fold_whitespace``)."""
    lines = []
    while len(text) > WRAP:
        cut = _breaks(text, WRAP)
        if cut is None:
            break
        lines.append(text[: cut[0]])
        text = text[cut[1] :]
    return lines + [text]


def _text_lines(name: str, text: str, indent: int, *, fold_over: Optional[int] = None) -> list[str]:
    pad = " " * indent
    paragraphs = text.split("\n")
    # an enumeration's line breaks come back from folding (fold_whitespace), so each item starts a line
    foldable = all(p.isprintable() for p in paragraphs) and fold_whitespace(" ".join(paragraphs)) == text
    if fold_over is not None and len(text) > fold_over and foldable and text == text.strip():
        return [f"{pad}{name}: >-"] + [f"{pad}  {line}" for p in paragraphs for line in _wrap(p)]
    return [f"{pad}{name}: {_scalar(text)}"]


def _key(key: str) -> str:
    try:
        plain = key == key.strip() and key.isprintable() and yaml.safe_load(f"{key}: 0") == {key: 0}
    except yaml.YAMLError:
        plain = False
    return key if plain else _quoted(key)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _scalar(value)
    return yaml.safe_dump(value, default_flow_style=True).splitlines()[0]


def _block(value: Any, indent: int) -> list[str]:
    """Structured ``data`` in block style (mappings and lists of scalars, mappings or lists)."""
    pad, lines = " " * indent, []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for name, item in items:
        lead = f"{pad}{_key(str(name))}:" if isinstance(value, dict) else f"{pad}-"
        if isinstance(item, (dict, list)) and item:
            inner = _block(item, indent + 2)
            if isinstance(value, list):  # "- first: 1" then the rest under it
                lines.append(f"{lead} {inner[0].strip()}")
                lines.extend(inner[1:])
            else:
                lines.append(lead)
                lines.extend(inner)
        else:
            lines.append(f"{lead} {'{}' if item == {} else '[]' if item == [] else _value(item)}")
    return lines


def emit_fact(row: dict) -> str:
    """One fact as the files write it (keys in the files' order, long answers folded)."""
    lines = [f"  - key: {_scalar(row['key'])}", f"    topic: {_scalar(row['topic'])}"]
    if row["intent"]:
        lines.append(f"    intent: {_scalar(row['intent'])}")
    if row["question"]:
        lines += _text_lines("question", row["question"], 4)
    lines += _text_lines("answer", row["answer"], 4, fold_over=FOLD_OVER)
    if row["variants"]:
        lines.append("    variants:")
        for variant in row["variants"]:
            when = ", ".join(f"{_flow_scalar(k)}: {_flow_scalar(v)}" for k, v in variant["when"].items())
            lines.append(f"      - when: {{{when}}}")
            lines += _text_lines("answer", variant["answer"], 8, fold_over=0)
    lines.append("    sources:")
    for source in row["sources"]:
        lines.append(f"      - document: {_scalar(source['document'])}")
        if source["article"] is not None:
            lines.append(f"        article: {_scalar(source['article'])}")
    lines.append(f"    confidence: {row['confidence']}")
    if row["confidence_note"]:
        lines += _text_lines("confidence_note", row["confidence_note"], 4)
    if row["effective"]:
        lines.append(f"    effective: {row['effective'].isoformat()}")
    lines.append(f"    verified: {row['verified'].isoformat()}")
    if row["data"] is not None:
        lines += ["    data:"] + _block(row["data"], 6) if row["data"] else ["    data: {}"]
    if row["corrections"]:
        lines.append("    corrections:")
        for corr in row["corrections"]:
            lines.append(f"      - claim: {_scalar(corr['claim'])}")
            lines += _text_lines("current", corr["current"], 8)
            if corr["since"] is not None:
                lines.append(f"        since: {_scalar(corr['since'])}")
            if corr["kind"] != "outdated":
                lines.append(f"        kind: {corr['kind']}")
    return "\n".join(lines)


def _segments(file: Path, text: str) -> tuple[str, dict[str, tuple[dict, str]]]:
    """The text before the first fact, and each fact's row and text (up to the next fact, blank lines cut)."""
    located = parse_file(file, text)
    lines = text.split("\n")
    starts = [x.line for x in located] + [len(lines) + 1]
    if not located:  # "facts: []": keep the comments above it
        return "".join(line + "\n" for line in lines if line.startswith("#")) + "facts:\n", {}
    head = "\n".join(lines[: starts[0] - 1]) + "\n"
    segments = {}
    for x, end in zip(located, starts[1:], strict=True):
        segments[x.row["key"]] = (x.row, "\n".join(lines[x.line - 1 : end - 1]).rstrip("\n").rstrip())
    return head, segments


def _homes(like: Optional[Path]) -> dict[str, tuple[str, int]]:
    """Each key's file and place in ``like`` (for facts loaded before the database remembered them)."""
    homes: dict[str, tuple[str, int]] = {}
    for file in sorted(like.glob("*.yml")) if like is not None and like.is_dir() else []:
        try:
            for x in parse_file(file, file.read_text(encoding="utf-8")):
                homes.setdefault(x.row["key"], (file.name, x.position))
        except (FactsFileError, UnicodeDecodeError):
            continue
    return homes


def render_files(facts_in_db: list[Fact], like: Optional[Path]) -> tuple[dict[str, str], ExportReport]:
    """The text of each facts file for ``facts_in_db``; ``like`` is the folder whose files show the way."""
    report = ExportReport(out=like or Path("."))
    homes = _homes(like)
    by_file: dict[str, list[tuple[int | None, Fact]]] = {}
    for fact in facts_in_db:
        if fact.source_file:
            name, position = Path(fact.source_file).name, fact.source_position
        else:  # loaded before revision 0004 and not since: where the files have it, else its topic's file
            name, position = homes.get(fact.key, (f"{fact.topic}.yml", None))
        by_file.setdefault(name, []).append((position, fact))
    all_keys = {f.key for f in facts_in_db}
    texts = {}
    for name, placed in sorted(by_file.items()):
        placed.sort(key=lambda p: (p[0] is None, p[0] or 0, p[1].key))
        members = [fact for _, fact in placed]
        head, segments = "facts:\n", dict[str, tuple[dict, str]]()
        existing = like / name if like else None
        if existing is not None and existing.exists():
            try:
                head, segments = _segments(existing, existing.read_text(encoding="utf-8"))
            except (FactsFileError, UnicodeDecodeError):
                report.reformatted.append(name)
        report.dropped += sorted(k for k in segments if k not in all_keys)
        parts = []
        for fact in members:
            row = fact_row(fact)
            old = segments.get(fact.key)
            parts.append(old[1] if old is not None and old[0] == row else emit_fact(row))
        texts[name] = head + "\n\n".join(parts) + "\n"
        # what a reload would read: the same facts, or the export says which not
        reread = {x.row["key"]: x.row for x in parse_file(Path(name), texts[name])}
        report.refolds += [f.key for f in members if reread.get(f.key) != fact_row(f)]
        report.facts += len(members)
    return texts, report


def export_facts(database_url: str, out: Path) -> ExportReport:
    """Write the database's facts to ``out`` (its current files show the way); files that would not change stay."""
    migrate.upgrade(database_url)
    with session_scope(database_url) as session:
        texts, report = render_files(session.query(Fact).all(), out)
    report.out = out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        path = out / name
        if path.exists() and path.read_bytes() == text.encode("utf-8"):
            report.unchanged.append(name)
        else:
            path.write_bytes(text.encode("utf-8"))
            report.written.append(name)
    return report
