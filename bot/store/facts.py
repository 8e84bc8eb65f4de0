"""The facts database: models and the query functions the actions use.

Each fact is one rule about the call-centre licence with its source,
confidence and dates; outdated claims from the product article are kept as
corrections linked to the fact they contradict. Query functions take an
explicit ``session`` so callers decide the unit of work.
"""
from __future__ import annotations

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
    select,
)
from sqlalchemy.orm import Session, relationship

from bot.db import Base, utcnow


CONFIDENCE_LEVELS = {
    "H": "依据法规或官方通知原文",
    "M": "与官方材料的多方转载一致",
    "L": "仅见于代办机构或常见解读",
    "U": "尚无权威文本可以确认",
}



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

    def answer_for(self, entities: dict) -> str:
        """Return the answer for the case ``entities`` describe (the most specific variant).

        A variant applies when each of its ``when`` conditions holds: the entity
        has that value, or is present at all for ``"*"``. Its answer may name
        the entities, e.g. ``{province}通信管理局``.
        """
        best, best_size = None, 0
        for variant in self.variants or []:
            when = variant["when"]
            if len(when) > best_size and all(
                name in entities and (wanted == "*" or entities[name] == wanted)
                for name, wanted in when.items()
            ):
                best, best_size = variant, len(when)
        if best is None:
            return self.answer
        return best["answer"].format_map({name: entities.get(name, "") for name in best["when"]})


class Correction(Base):
    """An outdated claim (from the product article) and the current rule."""

    __tablename__ = "fact_corrections"

    id = Column(Integer, primary_key=True)
    fact_id = Column(Integer, ForeignKey("facts.id", ondelete="CASCADE"), nullable=False, index=True)
    position = Column(Integer, nullable=False, default=0)
    claim = Column(Text, nullable=False)
    current = Column(Text, nullable=False)
    since = Column(String(20), nullable=True)

    fact = relationship("Fact", back_populates="corrections")


class FactEdit(Base):
    """The audit trail: who changed which fact, when, from what to what."""

    __tablename__ = "fact_edits"

    id = Column(Integer, primary_key=True)
    fact_key = Column(String(100), nullable=False, index=True)
    editor = Column(String(100), nullable=False)
    edited_at = Column(DateTime, nullable=False, default=utcnow)
    before = Column(JSON, nullable=False)
    after = Column(JSON, nullable=False)


EDITABLE = ("question", "answer", "confidence", "confidence_note", "verified_date")


def _editable(fact: Fact) -> dict:
    return {"question": fact.question, "answer": fact.answer, "sources": fact.sources,
            "confidence": fact.confidence, "confidence_note": fact.confidence_note,
            "verified_date": fact.verified_date.isoformat() if fact.verified_date else None}


def edit_fact(key: str, changes: dict, editor: str, *, session: Session) -> Fact:
    """Apply staff ``changes`` to a fact and record them in the audit trail."""
    fact = get_fact(key, session=session)
    if fact is None:
        raise KeyError(key)
    before = _editable(fact)
    if "confidence" in changes and changes["confidence"] not in CONFIDENCE_LEVELS:
        raise ValueError(f"confidence must be one of {'/'.join(CONFIDENCE_LEVELS)}")
    if "answer" in changes and not (changes["answer"] or "").strip():
        raise ValueError("the answer cannot be empty")
    for name, value in changes.items():
        if name == "sources":
            fact.sources = value
        elif name in EDITABLE:
            setattr(fact, name, value)
    after = _editable(fact)
    if after != before:
        session.add(FactEdit(fact_key=key, editor=editor, before=before, after=after))
    return fact


def edits(key: str, *, session: Session) -> list[FactEdit]:
    return list(session.execute(select(FactEdit).where(FactEdit.fact_key == key)
                                .order_by(FactEdit.edited_at.desc(), FactEdit.id.desc())).scalars())


def fact_for_intent(intent: str, *, session: Session) -> Optional[Fact]:
    """Return the fact that answers ``intent``, or None."""
    return session.execute(select(Fact).where(Fact.intent == intent)).scalar_one_or_none()


def get_fact(key: str, *, session: Session) -> Optional[Fact]:
    return session.execute(select(Fact).where(Fact.key == key)).scalar_one_or_none()


def all_facts(*, session: Session) -> list[Fact]:
    return list(session.execute(select(Fact).order_by(Fact.topic, Fact.key)).scalars())
