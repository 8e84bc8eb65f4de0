"""The facts database: models and the query functions the actions use.

Each fact is one rule about the call-centre licence with its source,
confidence and dates; outdated claims from the product article are kept as
corrections linked to the fact they contradict. Every change of a fact's
content, from the files or the console, is a numbered version (who, when,
why, the full content), so an answer can name the version it used and any
version can be restored. Query functions take an explicit ``session`` so
callers decide the unit of work.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from typing import Optional

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Session, object_session, relationship

from bot.db import Base, utcnow
from bot.store import authority

logger = logging.getLogger(__name__)

CONFIDENCE_LEVELS = {
    "H": "依据法规或官方通知原文",
    "M": "与官方材料的多方转载一致",
    "L": "仅见于代办机构或常见解读",
    "U": "尚无权威文本可以确认",
}
# what a version holds: the fact's knowledge (key, topic and intent say where it lives and what it answers)
CONTENT_FIELDS = (
    "question",
    "answer",
    "sources",
    "confidence",
    "confidence_note",
    "variants",
    "corrections",
    "data",
    "effective",
    "verified",
)
MAX_REASON = 500
# what a correction corrects: a rule that was once in force, a claim that never was a rule, or a claim
# true only for some visitors (「全网、地网都由工信部审查」 holds for a foreign-invested company)
CORRECTION_KINDS = ("outdated", "misconception", "partial")
# entities that say where the company is, not what it asks about: they lose a tie between variants
PLACE_ENTITIES = {"province"}
# what stands for an authority when no approval rule is loaded (never happens after a load; a neutral word, no rule)
MISSING_AUTHORITY = "发证机关"
# the circled numbers of an enumeration (①…⑩): each item starts a line in the chat bubble
ENUMERATION = re.compile(r"(?<=\S)\s*(?=[①-⑳])")


class StaleVersion(Exception):
    """The fact changed since the editor loaded it (``current`` is its version now)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the fact is at version {current} now")
        self.current = current


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def fold_whitespace(text: str) -> str:
    """Collapse whitespace runs; drop them between Chinese characters (YAML folding adds them).

    An enumeration keeps one item per line: a line break goes before each of ②…⑩ (and before ①
    when text precedes it), so the chat bubble does not run the list into one paragraph.
    """
    pieces = text.split()
    folded = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        folded += ("" if _is_wide(folded[-1]) or _is_wide(piece[0]) else " ") + piece
    return ENUMERATION.sub("\n", folded)


class Fact(Base):
    __tablename__ = "facts"

    id = Column(Integer, primary_key=True)
    key = Column(String(100), unique=True, nullable=False)
    topic = Column(String(50), nullable=False, index=True)
    # the NLU intent this fact answers; at most one fact per intent
    intent = Column(String(100), unique=True, nullable=True)
    question = Column(Text, nullable=True)
    answer = Column(Text, nullable=False)
    sources = Column(JSON, nullable=False)  # [{"document": ..., "article": ...}]
    confidence = Column(String(1), nullable=False)
    confidence_note = Column(Text, nullable=True)
    data = Column(JSON, nullable=True)  # structured values, e.g. capital thresholds
    # answers for a narrower case: [{"when": {"licence_scope": "地网", "province": "*"}, "answer": "..."}]
    variants = Column(JSON, nullable=True)
    effective_date = Column(Date, nullable=True)
    verified_date = Column(Date, nullable=False)
    # hash of the row as last loaded from data/facts: lets the loader tell a
    # changed file from a fact edited in the database since
    file_hash = Column(String(64), nullable=True)
    # the number of the fact's newest version (fact_versions); 0 until the first is recorded
    version = Column(Integer, nullable=False, default=0, server_default="0")
    # where the fact lives in data/facts (file name, place in the file), for the export back to YAML
    source_file = Column(String(200), nullable=True)
    source_position = Column(Integer, nullable=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    corrections = relationship(
        "Correction",
        back_populates="fact",
        cascade="all, delete-orphan",
        order_by="Correction.position",
    )

    @property
    def source_text(self) -> str:
        """Render the sources as one line, e.g. ``电信条例第9条；令42``."""
        parts = []
        for src in self.sources or []:
            article = src.get("article") or ""
            parts.append(f"{src['document']}{article}")
        return "；".join(parts)

    @property
    def unconfirmed(self) -> bool:
        return self.confidence in ("L", "U")

    def texts(self) -> list[str]:
        """The answer and every variant's answer (what may name an authority)."""
        return [self.answer] + [v["answer"] for v in self.variants or []]

    def answer_for(self, entities: dict, rule: Optional[dict] = None) -> str:
        """Return the answer for the case ``entities`` describe (the most specific variant).

        A variant applies when each of its ``when`` conditions holds: the entity
        has that value, or is present at all for ``"*"``. Its answer may name
        the entities, e.g. ``{province}``. More conditions win; at equal
        size a named value beats ``"*"``, then what the visitor wants (全网, 外资 …)
        beats where the company is (「我们在上海，想办全网」 is a 全网 question).

        Every text may name the approving authority through the approval ``rule``
        (``{local_authority}`` …, see bot/store/authority.py), which also decides the
        sentence that follows for the visitor's company type.
        """
        best, best_rank = None, None
        for variant in self.variants or []:
            when = variant["when"]
            if not all(
                name in entities and (wanted == "*" or entities[name] == wanted) for name, wanted in when.items()
            ):
                continue
            rank = (
                len(when),
                sum(wanted != "*" for wanted in when.values()),
                sum(name not in PLACE_ENTITIES for name in when),
            )
            if best_rank is None or rank > best_rank:
                best, best_rank = variant, rank
        text = self.answer if best is None else best["answer"]
        told = {name: entities.get(name, "") for name in (best or {}).get("when", {})}
        used = authority.placeholders(text)
        if rule is None:
            if used & set(authority.PLACEHOLDERS):  # a database without the rule (the loader refuses that)
                logger.error("fact %s names an authority but no approval rule is loaded", self.key)
            return text.format_map({**dict.fromkeys(authority.PLACEHOLDERS, MISSING_AUTHORITY), **told})
        answer = text.format_map({**told, **authority.values(rule, entities)})
        note = authority.note(
            rule,
            entities,
            fact_names_authority=authority.names_authority(self.texts()),
            named_local=authority.LOCAL in used,
        )
        return f"{answer}\n{note}" if note else answer


class Correction(Base):
    """A claim from the product article (outdated, a misconception, or true only in part) and the current rule."""

    __tablename__ = "fact_corrections"

    id = Column(Integer, primary_key=True)
    fact_id = Column(Integer, ForeignKey("facts.id", ondelete="CASCADE"), nullable=False, index=True)
    position = Column(Integer, nullable=False, default=0)
    claim = Column(Text, nullable=False)
    current = Column(Text, nullable=False)
    since = Column(String(20), nullable=True)
    kind = Column(String(20), nullable=False, default="outdated", server_default="outdated")

    fact = relationship("Fact", back_populates="corrections")


class FactVersion(Base):
    """One version of a fact: its full content, who made it, when and why."""

    __tablename__ = "fact_versions"
    __table_args__ = (UniqueConstraint("fact_key", "version", name="uq_fact_versions_fact_key_version"),)

    id = Column(Integer, primary_key=True)
    fact_key = Column(String(100), nullable=False)
    version = Column(Integer, nullable=False)
    content = Column(JSON, nullable=False)  # CONTENT_FIELDS, dates as YYYY-MM-DD
    # a staff name, "token:NAME", "file:data/facts/x.yml" (the loader) or "migration 0004"
    author = Column(String(255), nullable=False)
    reason = Column(Text, nullable=False)
    restored_from = Column(Integer, nullable=True)  # the version a restore brought back
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "author": self.author,
            "reason": self.reason,
            "restored_from": self.restored_from,
            "created_at": self.created_at.isoformat() + "Z",
            "content": self.content,
        }


class FactEdit(Base):
    """Console edits made before versions existed (revision 0004): kept as they were, no longer written."""

    __tablename__ = "fact_edits"

    id = Column(Integer, primary_key=True)
    fact_key = Column(String(100), nullable=False, index=True)
    editor = Column(String(100), nullable=False)
    edited_at = Column(DateTime, nullable=False, default=utcnow)
    before = Column(JSON, nullable=False)
    after = Column(JSON, nullable=False)


def _iso(value: Optional[dt.date]) -> Optional[str]:
    return value.isoformat() if value else None


def _date(value: Optional[str]) -> Optional[dt.date]:
    return dt.date.fromisoformat(value) if value else None


def _correction_content(corr: Correction) -> dict:
    """A correction as a version stores it; the usual kind (outdated) is left out, as versions before 0005 have it."""
    content = {"claim": corr.claim, "current": corr.current, "since": corr.since}
    if corr.kind and corr.kind != "outdated":
        content["kind"] = corr.kind
    return content


def content_of(fact: Fact) -> dict:
    """The fact's content as a version stores it (plain JSON values)."""
    return {
        "question": fact.question,
        "answer": fact.answer,
        "sources": [{"document": s["document"], "article": s.get("article")} for s in fact.sources or []],
        "confidence": fact.confidence,
        "confidence_note": fact.confidence_note,
        "variants": [{"when": dict(v["when"]), "answer": v["answer"]} for v in fact.variants or []],
        "corrections": [_correction_content(c) for c in fact.corrections],
        "data": fact.data,
        "effective": _iso(fact.effective_date),
        "verified": _iso(fact.verified_date),
    }


def apply_content(fact: Fact, content: dict) -> None:
    """Give ``fact`` the ``content`` of a version (``content_of``'s shape)."""
    fact.question = content["question"]
    fact.answer = content["answer"]
    fact.sources = [dict(s) for s in content["sources"]]
    fact.confidence = content["confidence"]
    fact.confidence_note = content["confidence_note"]
    fact.variants = [dict(v) for v in content["variants"]] or None
    fact.data = content["data"]
    fact.effective_date = _date(content["effective"])
    fact.verified_date = _date(content["verified"])
    # versions recorded before corrections had a kind: all of those were rendered as outdated rules
    fact.corrections = [
        Correction(
            position=i, claim=c["claim"], current=c["current"], since=c["since"], kind=c.get("kind") or "outdated"
        )
        for i, c in enumerate(content["corrections"])
    ]


def changed_fields(before: Optional[dict], after: dict) -> list[str]:
    """The content fields that differ between two versions' contents (all of them for a first version)."""
    return [name for name in CONTENT_FIELDS if before is None or before.get(name) != after.get(name)]


def latest_version(key: str, *, session: Session) -> Optional[FactVersion]:
    return session.execute(
        select(FactVersion).where(FactVersion.fact_key == key).order_by(FactVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


def record_version(
    fact: Fact, author: str, reason: str, *, session: Session, restored_from: Optional[int] = None
) -> Optional[FactVersion]:
    """Record the fact's content as its next version; None when it equals the newest version already."""
    content = content_of(fact)
    latest = latest_version(fact.key, session=session)
    if latest is not None and latest.content == content:
        return None
    version = FactVersion(
        fact_key=fact.key,
        version=(latest.version if latest else 0) + 1,
        content=content,
        author=author[:255],
        reason=reason,
        restored_from=restored_from,
    )
    session.add(version)
    fact.version = version.version
    return version


def _reason(reason: Optional[str]) -> str:
    reason = fold_whitespace(reason or "")
    if not reason:
        raise ValueError("a reason is needed: say why the fact changes")
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is too long (at most {MAX_REASON} characters)")
    return reason


def _check_answer_placeholders(text: str) -> None:
    """An edited answer may name the approval rule's authorities (``{local_authority}`` …) and nothing else."""
    try:
        used = authority.placeholders(text)
    except ValueError as exc:
        raise ValueError(f"the answer's braces are not a placeholder ({exc}); write {{local_authority}} etc.") from None
    unknown = used - set(authority.PLACEHOLDERS)
    if unknown:
        names = "、".join("{" + name + "}" for name in authority.PLACEHOLDERS)
        raise ValueError(f"the answer may only use the placeholders {names}, not {{{sorted(unknown)[0]}}}")


def _locked_fact(key: str, session: Session) -> Fact:
    """The fact, its row locked for this unit of work (PostgreSQL), so two edits get distinct versions."""
    fact = session.execute(select(Fact).where(Fact.key == key).with_for_update()).scalar_one_or_none()
    if fact is None:
        raise KeyError(key)
    return fact


# the longest a staff edit may make a field (the files' longest answer is under 300 characters): every view of
# a fact's history diffs its versions, so an unbounded answer would hold a console thread per view (S7)
MAX_FIELD_CHARS = {"question": 500, "answer": 5000, "confidence_note": 1000, "document": 500, "article": 500}


def _check_sizes(changes: dict) -> None:
    """Refuse a change that makes a field longer than MAX_FIELD_CHARS allows."""
    values = [(name, changes.get(name)) for name in ("question", "answer", "confidence_note")]
    for source in changes.get("sources") or []:
        values += [("document", source.get("document")), ("article", source.get("article"))]
    for name, value in values:
        if value and len(value) > MAX_FIELD_CHARS[name]:
            raise ValueError(f"{name} 最多 {MAX_FIELD_CHARS[name]} 字，这次有 {len(value)} 字")


def edit_fact(
    key: str, changes: dict, editor: str, reason: str, *, session: Session, base_version: Optional[int] = None
) -> Optional[FactVersion]:
    """Apply staff ``changes`` to a fact as a new version; None when nothing changed.

    ``base_version`` is the version the editor saw: if the fact moved on since,
    StaleVersion is raised rather than silently undoing the other change. Text
    is folded like the files' text (one paragraph), so an export reloads the same.
    """
    if "confidence" in changes and changes["confidence"] not in CONFIDENCE_LEVELS:
        raise ValueError(f"confidence must be one of {'/'.join(CONFIDENCE_LEVELS)}")
    _check_sizes(changes)
    if "answer" in changes and not fold_whitespace(changes["answer"] or ""):
        raise ValueError("the answer cannot be empty")
    if "answer" in changes:
        _check_answer_placeholders(changes["answer"])
    reason = _reason(reason)
    fact = _locked_fact(key, session)
    if base_version is not None and fact.version != base_version:
        raise StaleVersion(fact.version)
    for name, value in changes.items():
        if name in ("question", "confidence_note"):
            setattr(fact, name, fold_whitespace(value or "") or None)
        elif name == "answer":
            fact.answer = fold_whitespace(value)
        elif name == "sources":
            fact.sources = [
                {"document": fold_whitespace(s["document"]), "article": fold_whitespace(s.get("article") or "") or None}
                for s in value
            ]
        elif name in ("confidence", "verified_date"):
            setattr(fact, name, value)
    return record_version(fact, editor, reason, session=session)


def restore_version(key: str, number: int, staff: str, reason: str = "", *, session: Session) -> Optional[FactVersion]:
    """Bring back version ``number``'s content as a new version; None when the fact already has it."""
    fact = _locked_fact(key, session)
    old = get_version(key, number, session=session)
    if old is None:
        raise LookupError(f"{key} has no version {number}")
    apply_content(fact, old.content)
    if key == authority.RULE_FACT and unnamed_authorities(session=session):
        # an old version without data.approval would leave every answer naming an authority without one
        raise ValueError(f"v{number} has no approval rule (data.{authority.RULE_KEY}); other answers need it")
    why = f"restore of v{number}" + (f": {_reason(reason)}" if fold_whitespace(reason or "") else "")
    return record_version(fact, staff, why, session=session, restored_from=number)


def versions(key: str, *, session: Session) -> list[FactVersion]:
    """The fact's versions, newest first."""
    return list(
        session.execute(
            select(FactVersion).where(FactVersion.fact_key == key).order_by(FactVersion.version.desc())
        ).scalars()
    )


def get_version(key: str, number: int, *, session: Session) -> Optional[FactVersion]:
    return session.execute(
        select(FactVersion).where(FactVersion.fact_key == key, FactVersion.version == number)
    ).scalar_one_or_none()


def edits(key: str, *, session: Session) -> list[FactEdit]:
    """Console edits of ``key`` from before versions existed, newest first."""
    return list(
        session.execute(
            select(FactEdit).where(FactEdit.fact_key == key).order_by(FactEdit.edited_at.desc(), FactEdit.id.desc())
        ).scalars()
    )


def approval_rule(*, session: Session) -> Optional[dict]:
    """The rule for who approves and where to file (bot/store/authority.py), or None when not loaded."""
    fact = get_fact(authority.RULE_FACT, session=session)
    rule = (fact.data or {}).get(authority.RULE_KEY) if fact is not None else None
    return rule if rule is not None and not authority.rule_problems(rule) else None


def unnamed_authorities(*, session: Session) -> list[str]:
    """The facts that name an authority through the approval rule while no usable rule is loaded (else [])."""
    if approval_rule(session=session) is not None:
        return []
    return sorted(
        f.key
        for f in all_facts(session=session)
        if any(authority.placeholders(text) & set(authority.PLACEHOLDERS) for text in f.texts())
    )


def versioned_answer(fact: Fact, entities: dict) -> tuple[str, int]:
    """The answer for ``entities`` and the fact version it comes from (recorded on the bot message).

    The approval rule comes from the fact's own database session, so an answer always follows the
    rule as loaded now.
    """
    session = object_session(fact)
    rule = approval_rule(session=session) if session is not None else None
    return fact.answer_for(entities, rule), fact.version


def fact_for_intent(intent: str, *, session: Session) -> Optional[Fact]:
    """Return the fact that answers ``intent``, or None."""
    return session.execute(select(Fact).where(Fact.intent == intent)).scalar_one_or_none()


def get_fact(key: str, *, session: Session) -> Optional[Fact]:
    return session.execute(select(Fact).where(Fact.key == key)).scalar_one_or_none()


def all_facts(*, session: Session) -> list[Fact]:
    return list(session.execute(select(Fact).order_by(Fact.topic, Fact.key)).scalars())


def questions_by_intent(*, session: Session) -> dict[str, str]:
    """Every answered intent with its fact's own question ("" where the fact has none)."""
    rows = session.execute(select(Fact.intent, Fact.question).where(Fact.intent.isnot(None)))
    return {intent: question or "" for intent, question in rows}
