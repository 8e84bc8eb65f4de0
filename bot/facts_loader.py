"""Load ``data/facts/*.yml`` into the facts database, and export the database back to them.

Usage::

    python -m bot.facts_loader [PATH ...]            # load (default data/facts)
    python -m bot.facts_loader export [--out DIR]    # write the database's facts to DIR (default data/facts)

The load is idempotent: a fact whose row in the file has not changed since
the last load is left alone, so edits made in the database (by staff) stay
until the file itself changes. A load that changes a fact's content records a
new version (author ``file:data/facts/x.yml``). Every file is validated before
anything is written; a malformed row is reported with its file and line and
nothing is loaded.

The export writes each fact into the file it was loaded from, in its place.
A fact whose content equals its row in the existing file keeps that row's
text byte for byte (comments, line breaks, quoting); a changed or new fact is
written in the files' style. Loading the export gives the same facts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, NamedTuple, Optional, overload

import yaml

from bot import migrate
from bot import settings as settings_module
from bot.db import session_scope
from bot.store import authority
from bot.store.facts import (
    CONFIDENCE_LEVELS,
    CORRECTION_KINDS,
    Correction,
    Fact,
    _is_wide,
    content_of,
    fold_whitespace,
    record_version,
    unnamed_authorities,
)

REQUIRED = {"key", "topic", "answer", "sources", "confidence", "verified"}
OPTIONAL = {"intent", "question", "confidence_note", "effective", "data", "corrections", "variants"}
CORRECTION_FIELDS = {"claim", "current", "since", "kind"}


class FactsFileError(ValueError):
    """A facts file is malformed; the message names the file and line."""


@dataclass
class LoadReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # facts in the database that no file mentions (kept, never deleted)
    not_in_files: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> str:
        text = f"facts: {len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
        for label, keys in (("added", self.added), ("updated", self.updated), ("only in database", self.not_in_files)):
            if keys:
                text += f"\n  {label}: {', '.join(keys)}"
        return text


class _LineLoader(yaml.SafeLoader):
    """A safe loader that records the line of every mapping as ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _date(value: Any, where: str, name: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FactsFileError(f"{where}: {name} must be a date (YYYY-MM-DD), got {value!r}") from None


@overload
def _text(row: dict, name: str, where: str, required: Literal[True]) -> str: ...
@overload
def _text(row: dict, name: str, where: str, required: bool) -> str | None: ...
def _text(row: dict, name: str, where: str, required: bool) -> str | None:
    """The field ``name`` as text with its line breaks folded; ``None`` if it may be and is missing."""
    value = row.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FactsFileError(f"{where}: {name} must be non-empty text")
    return fold_whitespace(value)


def _validate_row(row: Any, where: str) -> dict:
    if not isinstance(row, dict):
        raise FactsFileError(f"{where}: each fact must be a mapping")
    keys = set(row) - {"__line__"}
    missing = REQUIRED - keys
    if missing:
        raise FactsFileError(f"{where}: missing field(s): {', '.join(sorted(missing))}")
    unknown = keys - REQUIRED - OPTIONAL
    if unknown:
        raise FactsFileError(f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {
        "key": _text(row, "key", where, True),
        "topic": _text(row, "topic", where, True),
        "intent": _text(row, "intent", where, False),
        "question": _text(row, "question", where, False),
        "answer": _text(row, "answer", where, True),
        "confidence_note": _text(row, "confidence_note", where, False),
    }
    _check_placeholders(clean["answer"], set(), where)
    confidence = row["confidence"]
    if confidence not in CONFIDENCE_LEVELS:
        raise FactsFileError(f"{where}: confidence must be one of {'/'.join(CONFIDENCE_LEVELS)}, got {confidence!r}")
    clean["confidence"] = confidence
    sources = row["sources"]
    if not isinstance(sources, list) or not sources:
        raise FactsFileError(f"{where}: sources must be a non-empty list")
    clean_sources: list[dict[str, str | None]] = []
    for src in sources:
        src_where = f"{where.rsplit(':', 1)[0]}:{src.get('__line__', '?') if isinstance(src, dict) else '?'}"
        if not isinstance(src, dict) or not isinstance(src.get("document"), str) or not src["document"].strip():
            raise FactsFileError(f"{src_where}: each source needs a document")
        extra = set(src) - {"document", "article", "__line__"}
        if extra:
            raise FactsFileError(f"{src_where}: unknown source field(s): {', '.join(sorted(extra))}")
        article = src.get("article")
        clean_sources.append(
            {"document": src["document"].strip(), "article": str(article).strip() if article is not None else None}
        )
    clean["sources"] = clean_sources
    clean["effective"] = _date(row.get("effective"), where, "effective")
    clean["verified"] = _date(row["verified"], where, "verified")
    data = row.get("data")
    if data is not None and not isinstance(data, dict):
        raise FactsFileError(f"{where}: data must be a mapping")
    clean["data"] = _strip_lines(data)
    if clean["data"] and authority.RULE_KEY in clean["data"]:
        problems = authority.rule_problems(clean["data"][authority.RULE_KEY])
        if clean["key"] != authority.RULE_FACT:
            problems = [f"only {authority.RULE_FACT} holds the approval rule (data.{authority.RULE_KEY})"]
        if problems:
            raise FactsFileError(f"{where}: {'; '.join(problems)}")
    variants: list[dict[str, Any]] = []
    for variant in row.get("variants") or []:
        var_where = f"{where.rsplit(':', 1)[0]}:{variant.get('__line__', '?') if isinstance(variant, dict) else '?'}"
        if not isinstance(variant, dict) or not isinstance(variant.get("when"), dict) or not variant["when"]:
            raise FactsFileError(f"{var_where}: each variant needs a non-empty 'when' mapping")
        extra = set(variant) - {"when", "answer", "__line__"}
        if extra:
            raise FactsFileError(f"{var_where}: unknown variant field(s): {', '.join(sorted(extra))}")
        when = {str(k): str(v) for k, v in _strip_lines(variant["when"]).items()}
        answer = _text(variant, "answer", var_where, True)
        _check_placeholders(answer, set(when), var_where)
        variants.append({"when": when, "answer": answer})
    clean["variants"] = variants
    corrections: list[dict[str, str | None]] = []
    for corr in row.get("corrections") or []:
        corr_where = f"{where.rsplit(':', 1)[0]}:{corr.get('__line__', '?') if isinstance(corr, dict) else '?'}"
        if not isinstance(corr, dict):
            raise FactsFileError(f"{corr_where}: each correction must be a mapping")
        extra = set(corr) - CORRECTION_FIELDS - {"__line__"}
        if extra:
            raise FactsFileError(f"{corr_where}: unknown correction field(s): {', '.join(sorted(extra))}")
        kind = corr.get("kind", "outdated")
        if kind not in CORRECTION_KINDS:
            raise FactsFileError(f"{corr_where}: kind must be one of {'/'.join(CORRECTION_KINDS)}, got {kind!r}")
        corrections.append(
            {
                "claim": _text(corr, "claim", corr_where, True),
                "current": _text(corr, "current", corr_where, True),
                "since": str(corr["since"]) if corr.get("since") is not None else None,
                "kind": kind,
            }
        )
    clean["corrections"] = corrections
    return clean


def _check_placeholders(text: str, entities: set[str], where: str) -> None:
    """An answer names only the entities its variant's ``when`` names, and the approval rule's authorities."""
    allowed = entities | set(authority.PLACEHOLDERS)
    try:
        used = authority.placeholders(text)
        text.format_map(dict.fromkeys(used, ""))
    except (KeyError, ValueError, IndexError) as exc:
        raise FactsFileError(f"{where}: answer has a malformed placeholder ({exc})") from None
    if used - allowed:
        raise FactsFileError(
            f"{where}: answer may only use placeholders from 'when' and {', '.join(authority.PLACEHOLDERS)} "
            f"(found {', '.join(sorted(used - allowed))})"
        )


class Located(NamedTuple):
    """A validated fact row and where it is: its file, the line it starts on, its place in the file."""

    row: dict
    file: Path
    line: int
    position: int


def _parse(file: Path, text: str) -> list[Located]:
    """Validate the facts of one file's ``text``."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise FactsFileError(f"{file}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("facts"), list):
        raise FactsFileError(f"{file}:1: expected a top-level 'facts:' list")
    found = []
    for position, row in enumerate(doc["facts"]):
        line = row.get("__line__", "?") if isinstance(row, dict) else "?"
        clean = _validate_row(row, f"{file}:{line}")  # raises unless the row is a mapping (which has its line)
        found.append(Located(clean, file, row["__line__"], position))
    return found


def _files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
        else:
            raise FactsFileError(f"{path}: no such file or folder")
    return files


def read_located(paths: Iterable[Path]) -> list[Located]:
    """Read and validate every fact in ``paths`` (files or folders of ``*.yml``), with where each is."""
    found: list[Located] = []
    seen_keys: dict[str, str] = {}
    seen_intents: dict[str, str] = {}
    for file in _files(paths):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise FactsFileError(f"{file}:1: not UTF-8 text") from None
        for located in _parse(file, text):
            clean, where = located.row, f"{file}:{located.line}"
            if clean["key"] in seen_keys:
                raise FactsFileError(f"{where}: duplicate key {clean['key']!r} (first at {seen_keys[clean['key']]})")
            seen_keys[clean["key"]] = where
            intent = clean["intent"]
            if intent:
                if intent in seen_intents:
                    raise FactsFileError(
                        f"{where}: intent {intent!r} is already answered by the fact at {seen_intents[intent]}"
                    )
                seen_intents[intent] = where
            found.append(located)
    return found


def read_facts(paths: Iterable[Path]) -> list[dict]:
    """Read and validate every fact in ``paths`` (files or folders of ``*.yml``)."""
    return [located.row for located in read_located(paths)]


def _row_hash(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def _apply(fact: Fact, row: dict, digest: str) -> None:
    fact.key = row["key"]
    fact.topic = row["topic"]
    fact.intent = row["intent"]
    fact.question = row["question"]
    fact.answer = row["answer"]
    fact.sources = row["sources"]
    fact.confidence = row["confidence"]
    fact.confidence_note = row["confidence_note"]
    fact.data = row["data"]
    fact.variants = row["variants"] or None
    fact.effective_date = row["effective"]
    fact.verified_date = row["verified"]
    fact.file_hash = digest
    fact.corrections = [
        Correction(position=i, claim=c["claim"], current=c["current"], since=c["since"], kind=c["kind"])
        for i, c in enumerate(row["corrections"])
    ]


def _origin(file: Path) -> str:
    """The file as the project names it (``data/facts/licence.yml``), for version authors."""
    try:
        return file.resolve().relative_to(settings_module.PROJECT_ROOT).as_posix()
    except ValueError:
        return str(file)


def load_facts(paths: Iterable[Path], database_url: str) -> LoadReport:
    """Validate ``paths`` and upsert their facts into ``database_url``, recording a version per change."""
    located = read_located(paths)
    migrate.upgrade(database_url)
    report = LoadReport()
    with session_scope(database_url) as session:
        existing = {f.key: f for f in session.query(Fact).all()}
        # free intents that move to another fact before reassigning them (unique column)
        incoming_intents = {x.row["intent"]: x.row["key"] for x in located if x.row["intent"]}
        for fact in existing.values():
            if fact.intent in incoming_intents and incoming_intents[fact.intent] != fact.key:
                fact.intent = None
        session.flush()
        for row, file, _, position in located:
            digest = _row_hash(row)
            origin = _origin(file)
            fact = existing.get(row["key"])
            if fact is None:
                fact = Fact()
                _apply(fact, row, digest)
                session.add(fact)
                record_version(fact, f"file:{origin}", f"loaded from {origin}", session=session)
                report.added.append(row["key"])
            elif fact.file_hash != digest:
                before = (fact.topic, fact.intent)
                _apply(fact, row, digest)
                # the file may now say what the database already has (an exported console edit): no new version
                version = record_version(fact, f"file:{origin}", f"loaded from {origin}", session=session)
                (report.updated if version or before != (fact.topic, fact.intent) else report.unchanged).append(
                    row["key"]
                )
            else:
                report.unchanged.append(row["key"])
            fact.source_file, fact.source_position = file.name, position
        file_keys = {x.row["key"] for x in located}
        report.not_in_files = sorted(k for k in existing if k not in file_keys)
        session.flush()
        _require_rule(session)
    return report


def _require_rule(session: Any) -> None:
    """Refuse a load that leaves answers naming an authority without the approval rule to name it."""
    naming = unnamed_authorities(session=session)
    if naming:
        raise FactsFileError(
            f"{', '.join(naming)} name an authority, but {authority.RULE_FACT} has no data.{authority.RULE_KEY} "
            "(the approval rule, docs/facts.md)"
        )


# ---------- export: the database back to data/facts/*.yml

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
    located = _parse(file, text)
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
            for x in _parse(file, file.read_text(encoding="utf-8")):
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
        reread = {x.row["key"]: x.row for x in _parse(Path(name), texts[name])}
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:
        return _export_main(argv[1:])
    parser = argparse.ArgumentParser(
        description="Load facts YAML files into the facts database (`export` writes the database back to them)."
    )
    parser.add_argument("paths", nargs="*", type=Path, default=[settings_module.PROJECT_ROOT / "data" / "facts"])
    parser.add_argument("--database-url", help="default: $DATABASE_URL or var/facts.db")
    args = parser.parse_args(argv)
    try:
        url = args.database_url or settings_module.load().database_url
        report = load_facts(args.paths, url)
    except (FactsFileError, settings_module.SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable etc.: one clear line, no traceback
        print(f"error: could not load facts: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _export_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.facts_loader export", description="Write the facts database back to data/facts/*.yml."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=settings_module.PROJECT_ROOT / "data" / "facts",
        help="folder to write (default data/facts; its files keep their comments)",
    )
    parser.add_argument("--database-url", help="default: $DATABASE_URL or var/facts.db")
    args = parser.parse_args(argv)
    try:
        url = args.database_url or settings_module.load().database_url
        report = export_facts(url, args.out)
    except settings_module.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable etc.: one clear line, no traceback
        print(f"error: could not export facts: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
