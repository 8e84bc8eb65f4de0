"""Load ``data/facts/*.yml`` into the facts database.

Usage: ``python -m bot.facts_loader [PATH ...]`` (default ``data/facts``).

The load is idempotent: a fact whose row in the file has not changed since
the last load is left alone, so edits made in the database (by staff) stay
until the file itself changes. Every file is validated before anything is
written; a malformed row is reported with its file and line and nothing is
loaded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from bot import migrate
from bot import settings as settings_module
from bot.db import session_scope
from bot.store.facts import CONFIDENCE_LEVELS, Correction, Fact

REQUIRED = {"key", "topic", "answer", "sources", "confidence", "verified"}
OPTIONAL = {"intent", "question", "confidence_note", "effective", "data", "corrections", "variants"}
CORRECTION_FIELDS = {"claim", "current", "since"}


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
        text = (
            f"facts: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )
        for label, keys in (("added", self.added), ("updated", self.updated),
                            ("only in database", self.not_in_files)):
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


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def fold_whitespace(text: str) -> str:
    """Collapse whitespace runs; drop them between Chinese characters (YAML folding adds them)."""
    pieces = text.split()
    folded = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        folded += ("" if _is_wide(folded[-1]) or _is_wide(piece[0]) else " ") + piece
    return folded


def _text(row: dict, name: str, where: str, required: bool) -> str | None:
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
    clean = {
        "key": _text(row, "key", where, True),
        "topic": _text(row, "topic", where, True),
        "intent": _text(row, "intent", where, False),
        "question": _text(row, "question", where, False),
        "answer": _text(row, "answer", where, True),
        "confidence_note": _text(row, "confidence_note", where, False),
    }
    confidence = row["confidence"]
    if confidence not in CONFIDENCE_LEVELS:
        raise FactsFileError(f"{where}: confidence must be one of {'/'.join(CONFIDENCE_LEVELS)}, got {confidence!r}")
    clean["confidence"] = confidence
    sources = row["sources"]
    if not isinstance(sources, list) or not sources:
        raise FactsFileError(f"{where}: sources must be a non-empty list")
    clean["sources"] = []
    for src in sources:
        src_where = f"{where.rsplit(':', 1)[0]}:{src.get('__line__', '?') if isinstance(src, dict) else '?'}"
        if not isinstance(src, dict) or not isinstance(src.get("document"), str) or not src["document"].strip():
            raise FactsFileError(f"{src_where}: each source needs a document")
        extra = set(src) - {"document", "article", "__line__"}
        if extra:
            raise FactsFileError(f"{src_where}: unknown source field(s): {', '.join(sorted(extra))}")
        article = src.get("article")
        clean["sources"].append({"document": src["document"].strip(),
                                 "article": str(article).strip() if article is not None else None})
    clean["effective"] = _date(row.get("effective"), where, "effective")
    clean["verified"] = _date(row["verified"], where, "verified")
    data = row.get("data")
    if data is not None and not isinstance(data, dict):
        raise FactsFileError(f"{where}: data must be a mapping")
    clean["data"] = _strip_lines(data)
    clean["variants"] = []
    for variant in row.get("variants") or []:
        var_where = f"{where.rsplit(':', 1)[0]}:{variant.get('__line__', '?') if isinstance(variant, dict) else '?'}"
        if not isinstance(variant, dict) or not isinstance(variant.get("when"), dict) or not variant["when"]:
            raise FactsFileError(f"{var_where}: each variant needs a non-empty 'when' mapping")
        extra = set(variant) - {"when", "answer", "__line__"}
        if extra:
            raise FactsFileError(f"{var_where}: unknown variant field(s): {', '.join(sorted(extra))}")
        when = {str(k): str(v) for k, v in _strip_lines(variant["when"]).items()}
        answer = _text(variant, "answer", var_where, True)
        try:
            answer.format_map({name: "" for name in when})
        except (KeyError, ValueError, IndexError) as exc:
            raise FactsFileError(f"{var_where}: answer may only use placeholders from 'when' ({exc})") from None
        clean["variants"].append({"when": when, "answer": answer})
    clean["corrections"] = []
    for corr in row.get("corrections") or []:
        corr_where = f"{where.rsplit(':', 1)[0]}:{corr.get('__line__', '?') if isinstance(corr, dict) else '?'}"
        if not isinstance(corr, dict):
            raise FactsFileError(f"{corr_where}: each correction must be a mapping")
        extra = set(corr) - CORRECTION_FIELDS - {"__line__"}
        if extra:
            raise FactsFileError(f"{corr_where}: unknown correction field(s): {', '.join(sorted(extra))}")
        clean["corrections"].append({
            "claim": _text(corr, "claim", corr_where, True),
            "current": _text(corr, "current", corr_where, True),
            "since": str(corr["since"]) if corr.get("since") is not None else None,
        })
    return clean


def read_facts(paths: Iterable[Path]) -> list[dict]:
    """Read and validate every fact in ``paths`` (files or folders of ``*.yml``)."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
        else:
            raise FactsFileError(f"{path}: no such file or folder")
    rows: list[dict] = []
    seen_keys: dict[str, str] = {}
    seen_intents: dict[str, str] = {}
    for file in files:
        try:
            doc = yaml.load(file.read_text(encoding="utf-8"), Loader=_LineLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else "?"
            raise FactsFileError(f"{file}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
        except UnicodeDecodeError:
            raise FactsFileError(f"{file}:1: not UTF-8 text") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("facts"), list):
            raise FactsFileError(f"{file}:1: expected a top-level 'facts:' list")
        for row in doc["facts"]:
            where = f"{file}:{row.get('__line__', '?') if isinstance(row, dict) else '?'}"
            clean = _validate_row(row, where)
            if clean["key"] in seen_keys:
                raise FactsFileError(f"{where}: duplicate key {clean['key']!r} (first at {seen_keys[clean['key']]})")
            seen_keys[clean["key"]] = where
            if clean["intent"]:
                if clean["intent"] in seen_intents:
                    raise FactsFileError(
                        f"{where}: intent {clean['intent']!r} is already answered by the fact at {seen_intents[clean['intent']]}")
                seen_intents[clean["intent"]] = where
            rows.append(clean)
    return rows


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
        Correction(position=i, claim=c["claim"], current=c["current"], since=c["since"])
        for i, c in enumerate(row["corrections"])
    ]


def load_facts(paths: Iterable[Path], database_url: str) -> LoadReport:
    """Validate ``paths`` and upsert their facts into ``database_url``."""
    rows = read_facts(paths)
    migrate.upgrade(database_url)
    report = LoadReport()
    with session_scope(database_url) as session:
        existing = {f.key: f for f in session.query(Fact).all()}
        # free intents that move to another fact before reassigning them (unique column)
        incoming_intents = {r["intent"]: r["key"] for r in rows if r["intent"]}
        for fact in existing.values():
            if fact.intent in incoming_intents and incoming_intents[fact.intent] != fact.key:
                fact.intent = None
        session.flush()
        for row in rows:
            digest = _row_hash(row)
            fact = existing.get(row["key"])
            if fact is None:
                fact = Fact()
                _apply(fact, row, digest)
                session.add(fact)
                report.added.append(row["key"])
            elif fact.file_hash != digest:
                _apply(fact, row, digest)
                report.updated.append(row["key"])
            else:
                report.unchanged.append(row["key"])
        file_keys = {r["key"] for r in rows}
        report.not_in_files = sorted(k for k in existing if k not in file_keys)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load facts YAML files into the facts database.")
    parser.add_argument("paths", nargs="*", type=Path,
                        default=[settings_module.PROJECT_ROOT / "data" / "facts"])
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


if __name__ == "__main__":
    sys.exit(main())
