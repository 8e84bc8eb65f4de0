"""Read, validate and load ``data/facts/*.yml`` into the facts database.

The load is idempotent: a fact whose row in the file has not changed since
the last load is left alone, so edits made in the database (by staff) stay
until the file itself changes. A load that changes a fact's content records a
new version (author ``file:data/facts/x.yml``). Every file is validated before
anything is written; a malformed row is reported with its file and line and
nothing is loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, NamedTuple, overload

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


def parse_file(file: Path, text: str) -> list[Located]:
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
        for located in parse_file(file, text):
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
