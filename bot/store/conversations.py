"""Conversations for staff review, read from Rasa's SQL tracker store.

Rasa keeps one row per event (table ``events``). Listing and filtering
100,000 conversations straight from it would scan every event, so
the notifier folds new events into one summary row per conversation in the
app database (bot/store/summaries.py); this module reads them for the
console: search, transcripts (from the events themselves), the dashboard, and
the YAML exports. Review state, tags and notes live in the summaries too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa
import yaml
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Session

from bot import db
from bot.db import Base
from bot.store import handoffs, leads

logger = logging.getLogger(__name__)


LOW_CONFIDENCE = 0.6


SKIPPED_ACTIONS = {"action_listen", "action_session_start", None}


class Feedback(Base):
    """A visitor's 👍/👎 on one bot answer, kept with the conversation id."""

    __tablename__ = "answer_feedback"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(64), nullable=False, index=True)
    message_text = Column(Text, nullable=False)
    value = Column(Integer, nullable=False)  # +1 or -1
    created_at = Column(DateTime, nullable=False, default=db.utcnow)


class ConversationSummary(Base):
    __tablename__ = "conversation_summaries"

    conversation_id = Column(String(255), primary_key=True)
    channel = Column(String(30), nullable=True, index=True)
    first_at = Column(DateTime, nullable=True)
    last_at = Column(DateTime, nullable=True, index=True)
    user_messages = Column(Integer, nullable=False, default=0)
    fell_back = Column(Boolean, nullable=False, default=False, index=True)
    low_confidence = Column(Boolean, nullable=False, default=False, index=True)
    min_confidence = Column(Float, nullable=True)
    preview = Column(Text, nullable=True)
    search_text = Column(Text, nullable=True)
    last_user_text = Column(Text, nullable=True)
    unanswered = Column(Text, nullable=True)  # messages the bot was unsure about, one per line
    topics = Column(Text, nullable=False, default="")  # ",fact.key," answered in this conversation
    reviewed = Column(Boolean, nullable=False, default=False, index=True)
    tags = Column(Text, nullable=False, default="")  # ",tag1,tag2," for LIKE filters
    note = Column(Text, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "user_messages": self.user_messages,
            "fell_back": self.fell_back,
            "low_confidence": self.low_confidence,
            "preview": self.preview,
            "reviewed": self.reviewed,
            "tags": [t for t in self.tags.split(",") if t],
            "note": self.note,
        }


class CollectedExample(Base):
    """A visitor message a staff member labelled with the right intent, for training."""

    __tablename__ = "collected_examples"

    id = Column(Integer, primary_key=True)
    text = Column(Text, nullable=False)
    intent = Column(String(100), nullable=False, index=True)
    conversation_id = Column(String(255), nullable=True)
    collected_by = Column(String(100), nullable=False)
    created_at = Column(DateTime, nullable=False, default=db.utcnow)


def nlu_yaml(examples: list[CollectedExample]) -> str:
    """Collected examples as Rasa NLU training data (version 3.1), one block per intent."""
    by_intent: dict[str, list[str]] = {}
    for example in examples:
        text = " ".join(example.text.split())
        if text and text not in by_intent.setdefault(example.intent, []):
            by_intent[example.intent].append(text)
    blocks = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    return yaml.dump(
        {"version": "3.1", "nlu": blocks},
        allow_unicode=True,
        sort_keys=False,
        default_style=None,
        Dumper=_LiteralDumper,
    )


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (``|``), as Rasa's own training files write them."""


def _literal(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def story_yaml(conversation_id: str, items: list[dict[str, Any]]) -> str:
    """A conversation as a Rasa test story (user text + intent, then the bot's actions)."""
    steps: list[dict[str, str]] = []
    for item in items:
        if item["kind"] == "active_loop" and steps:
            steps.append({"active_loop": item["name"]})
            continue
        if item["kind"] == "user" and item.get("intent"):
            steps.append({"user": item["text"] + "\n", "intent": item["intent"]})
        elif item["kind"] == "action" and steps:
            steps.append({"action": item["name"]})
    story = {"version": "3.1", "stories": [{"story": f"Conversation {conversation_id} as reviewed", "steps": steps}]}
    return yaml.dump(story, allow_unicode=True, sort_keys=False, Dumper=_LiteralDumper)


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


def events_table(tracker_url: str) -> sa.Table:
    """Rasa's ``events`` table of the tracker store at ``tracker_url`` (NoSuchTableError before its first event)."""
    table = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker_url))
    return table


@dataclass
class Filters:
    date_from: Optional[dt.date] = None
    date_to: Optional[dt.date] = None
    channel: Optional[str] = None
    fell_back: Optional[bool] = None
    low_confidence: Optional[bool] = None
    thumbs_down: Optional[bool] = None
    had_lead: Optional[bool] = None
    handed_off: Optional[bool] = None
    reviewed: Optional[bool] = None
    tag: Optional[str] = None
    q: Optional[str] = None
    needs_review: Optional[bool] = None  # not understood, low confidence or 👎


def _flag(clause: Any, wanted: Optional[bool]) -> Any:
    return None if wanted is None else (clause if wanted else sa.not_(clause))


def search(
    filters: Filters, *, session: Session, limit: int = 50, offset: int = 0
) -> tuple[list[ConversationSummary], int]:
    """Summaries matching ``filters``, most recent first, and the total count."""
    s = ConversationSummary
    conditions = []
    if filters.date_from:
        conditions.append(s.last_at >= dt.datetime.combine(filters.date_from, dt.time.min))
    if filters.date_to:
        conditions.append(s.last_at < dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min))
    if filters.channel:
        conditions.append(s.channel == filters.channel)
    if filters.tag:
        conditions.append(s.tags.like(f"%,{_escape(filters.tag)},%", escape="\\"))
    if filters.q:
        conditions.append(s.search_text.like(f"%{_escape(filters.q)}%", escape="\\"))
    for column, wanted in (
        (s.fell_back, filters.fell_back),
        (s.low_confidence, filters.low_confidence),
        (s.reviewed, filters.reviewed),
    ):
        if wanted is not None:
            conditions.append(column.is_(wanted))
    exists = {
        "thumbs_down": sa.exists().where(Feedback.conversation_id == s.conversation_id, Feedback.value < 0),
        "had_lead": sa.exists().where(leads.Lead.conversation_id == s.conversation_id),
        "handed_off": sa.exists().where(handoffs.Handoff.conversation_id == s.conversation_id),
    }
    for name, clause in exists.items():
        condition = _flag(clause, getattr(filters, name))
        if condition is not None:
            conditions.append(condition)
    if filters.needs_review is not None:
        attention = sa.or_(s.fell_back.is_(True), s.low_confidence.is_(True), exists["thumbs_down"])
        conditions.append(attention if filters.needs_review else sa.not_(attention))
    query = select(s).where(*conditions)
    total = session.execute(select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(s.last_at.desc(), s.conversation_id).limit(limit).offset(offset))
    return list(rows.scalars()), total


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def transcript(conversation_id: str, tracker_url: str) -> list[dict[str, Any]]:
    """The conversation's messages and notable events, in order, for staff."""
    try:
        events = events_table(tracker_url)
    except sa.exc.NoSuchTableError:
        return []
    with db.get_engine(tracker_url).connect() as connection:
        rows = connection.execute(
            select(events.c.type_name, events.c.timestamp, events.c.data)
            .where(events.c.sender_id == conversation_id)
            .order_by(events.c.id)
        ).fetchall()
    items: list[dict[str, Any]] = []
    for row in rows:
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            continue
        when = _iso(dt.datetime.utcfromtimestamp(row.timestamp)) if row.timestamp else None
        if row.type_name == "user":
            parse = data.get("parse_data") or {}
            intent = parse.get("intent") or {}
            items.append(
                {
                    "kind": "user",
                    "at": when,
                    "text": data.get("text") or "",
                    "normalized": parse.get("normalized_text"),
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence"),
                    "channel": data.get("input_channel"),
                    "ranking": [r.get("name") for r in (parse.get("intent_ranking") or [])[:5] if isinstance(r, dict)],
                    "entities": [
                        {"entity": e.get("entity"), "value": e.get("value")} for e in parse.get("entities") or []
                    ],
                }
            )
        elif row.type_name == "bot":
            metadata = data.get("metadata") or {}
            buttons = (data.get("data") or {}).get("buttons") or []
            items.append(
                {
                    "kind": "staff" if metadata.get("staff") else "bot",
                    "at": when,
                    "text": data.get("text") or "",
                    "response": metadata.get("utter_action"),
                    "staff": metadata.get("staff"),
                    "buttons": [b.get("title") for b in buttons],
                    # the fact and version the answer came from (actions/answer.py puts them there)
                    "fact_key": metadata.get("fact_key"),
                    "fact_version": metadata.get("fact_version"),
                }
            )
        elif row.type_name == "slot" and data.get("name") == "fact_key" and items:
            items.append({"kind": "fact", "at": when, "fact_key": data.get("value")})
        elif row.type_name in ("pause", "resume"):
            items.append({"kind": row.type_name, "at": when})
        elif row.type_name == "action" and data.get("name") not in SKIPPED_ACTIONS:
            items.append({"kind": "action", "at": when, "name": data.get("name")})
        elif row.type_name == "active_loop" and data.get("name"):
            items.append({"kind": "active_loop", "at": when, "name": data.get("name")})
    return items


def dashboard(*, session: Session, days: int = 30, now: Optional[dt.datetime] = None) -> dict[str, Any]:
    """Figures for the console dashboard over the last ``days`` days."""
    now = now or db.utcnow()
    since = now - dt.timedelta(days=days)
    s = ConversationSummary
    # days as staff in China count them (UTC+8, no summer time): a conversation at 01:00 belongs to that day
    if session.get_bind().dialect.name == "sqlite":
        day = sa.func.date(s.first_at, "+8 hours")
    else:
        day = sa.func.date(s.first_at + sa.literal_column("interval '8 hours'", sa.Interval))
    per_day = session.execute(
        select(day, s.channel, sa.func.count()).where(s.first_at >= since).group_by(day, s.channel).order_by(day)
    ).all()
    total, fell_back = session.execute(
        select(sa.func.count(), sa.func.sum(sa.cast(s.fell_back, Integer))).where(s.first_at >= since)
    ).one()
    unanswered: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for text, keys in session.execute(select(s.unanswered, s.topics).where(s.first_at >= since)):
        unanswered.update(line for line in (text or "").splitlines() if line.strip())
        topics.update(k for k in (keys or "").split(",") if k)
    votes = dict(
        session.execute(
            select(Feedback.value, sa.func.count()).where(Feedback.created_at >= since).group_by(Feedback.value)
        ).all()
    )
    funnel = dict(session.execute(select(leads.Lead.status, sa.func.count()).group_by(leads.Lead.status)).all())
    return {
        "days": days,
        "per_day": [{"day": str(d), "channel": c or "unknown", "count": n} for d, c, n in per_day],
        "conversations": total or 0,
        "fallback_rate": (fell_back or 0) / total if total else 0.0,
        "top_unanswered": [{"text": t, "count": n} for t, n in unanswered.most_common(10)],
        "top_topics": [{"fact_key": k, "count": n} for k, n in topics.most_common(10)],
        "feedback": {"up": votes.get(1, 0), "down": votes.get(-1, 0)},
        "lead_funnel": {status: funnel.get(status, 0) for status in leads.STATUSES},
    }
