"""Conversations for staff review, read from Rasa's SQL tracker store.

Rasa keeps one row per event (table ``events``). Listing and filtering
100,000 conversations straight from it would scan every event, so
``refresh`` folds new events (by id, incrementally) into one summary row per
conversation in the app database; review state, tags and notes live there
too. Transcripts are read from the events themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import sqlalchemy as sa
import yaml
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Text, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from bot import db
from bot.db import Base
from bot.store import handoffs, leads

logger = logging.getLogger(__name__)

BATCH = 5000
LOW_CONFIDENCE = 0.6
SEARCH_LIMIT = 4000
# replies that leave the visitor without an answer: the conversation needs review
UNSURE_REPLIES = {"utter_clarify", "utter_default", "utter_clarify_consultant", "utter_no_fact", "utter_other_licence"}
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


_LiteralDumper.add_representer(str, _literal)


def test_story(conversation_id: str, items: list[dict[str, Any]]) -> str:
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


class Watermark(Base):
    __tablename__ = "conversation_watermark"

    name = Column(String(50), primary_key=True)
    last_event_id = Column(Integer, nullable=False, default=0)


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() + "Z" if value else None


def _events_table(tracker_url: str) -> sa.Table:
    table = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker_url))
    return table


def refresh(tracker_url: str, database_url: str, *, max_batches: Optional[int] = None) -> int:
    """Fold events newer than the watermark into summaries; return how many were read.

    Each batch locks the watermark row for its unit of work, so two refreshers
    (the notifier's loop and a page load, or two instances) never fold the same
    events twice: the second waits, then reads the advanced watermark; one that
    cannot get the lock in time leaves the work to the holder. ``max_batches``
    bounds one call (the worker also has leads to deliver).
    """
    try:
        events = _events_table(tracker_url)
    except sa.exc.NoSuchTableError:
        return 0  # Rasa has not stored anything yet
    read, batches = 0, 0
    while max_batches is None or batches < max_batches:
        batches += 1
        last = None
        try:
            with db.session_scope(database_url) as session:
                mark = _lock_watermark(session)
                rows = _rows_after(tracker_url, events, mark.last_event_id, BATCH)
                if not rows:
                    return read
                last = rows[-1].id
                summaries: dict[str, ConversationSummary] = {}
                # one flush per batch, not one per new conversation
                with session.no_autoflush:
                    _fold_rows(session, rows, summaries)
                mark.last_event_id = last
                session.flush()
                read += len(rows)
        except (sa.exc.OperationalError, sa.exc.IntegrityError):
            # another refresher holds the watermark (SQLite: "database is locked"; PostgreSQL: lock_timeout),
            # or created it at the same moment: it folds these events, not us
            return read
        except sa.exc.DataError:
            if last is None:
                raise
            # the database refused a value of this batch (PostgreSQL: too long for its column …): fold the batch
            # again one event at a time and step over the refused one, or it stops every later summary (F8)
            read += _fold_one_by_one(tracker_url, database_url, events, last)
    return read


def _rows_after(tracker_url: str, events: sa.Table, after: int, limit: int) -> Sequence[Row]:
    with db.get_engine(tracker_url).connect() as connection:
        return connection.execute(
            select(
                events.c.id,
                events.c.sender_id,
                events.c.type_name,
                events.c.timestamp,
                events.c.intent_name,
                events.c.action_name,
                events.c.data,
            )
            .where(events.c.id > after)
            .order_by(events.c.id)
            .limit(limit)
        ).fetchall()


def _fold_one_by_one(tracker_url: str, database_url: str, events: sa.Table, until: int) -> int:
    """Fold the events up to id ``until`` each in its own transaction; skip those the database refuses."""
    read = 0
    while True:
        refused = None
        try:
            with db.session_scope(database_url) as session:
                mark = _lock_watermark(session)
                rows = _rows_after(tracker_url, events, mark.last_event_id, 1)
                if not rows or rows[0].id > until:
                    return read
                refused = rows[0]
                _fold_rows(session, rows, {})
                mark.last_event_id = rows[0].id
                session.flush()
        except sa.exc.DataError:
            if refused is None:
                raise
            with db.session_scope(database_url) as session:
                mark = _lock_watermark(session)
                mark.last_event_id = max(mark.last_event_id, refused.id)
            logger.warning(
                "event %s (%s) left out of the summaries: the database refused it", refused.id, refused.type_name
            )
        read += 1


def _lock_watermark(session: Session) -> Watermark:
    """Take the watermark row for this unit of work (a write lock on both SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
    touched = session.execute(
        sa.update(Watermark).where(Watermark.name == "events").values(last_event_id=Watermark.last_event_id)
    ).rowcount
    if not touched:
        session.add(Watermark(name="events", last_event_id=0))
        session.flush()
    return session.get(Watermark, "events", populate_existing=True)


def _fold_rows(session: Session, rows: Sequence[Row], summaries: dict[str, ConversationSummary]) -> None:
    senders = list({row.sender_id for row in rows})
    for start in range(0, len(senders), 500):  # one query per 500 conversations, not one each
        chunk = senders[start : start + 500]
        for summary in session.execute(
            select(ConversationSummary).where(ConversationSummary.conversation_id.in_(chunk))
        ).scalars():
            summaries[summary.conversation_id] = summary
    for row in rows:
        summary = summaries.get(row.sender_id)
        if summary is None:
            summary = ConversationSummary(
                conversation_id=row.sender_id,
                user_messages=0,
                tags="",
                topics="",
                fell_back=False,
                low_confidence=False,
                reviewed=False,
            )
            session.add(summary)
        summaries[row.sender_id] = summary
        _fold(summary, row)


def _fold(summary: ConversationSummary, row: Row) -> None:
    when = dt.datetime.utcfromtimestamp(row.timestamp) if row.timestamp else None
    if when:
        summary.first_at = min(summary.first_at or when, when)
        summary.last_at = max(summary.last_at or when, when)
    if row.type_name not in ("user", "bot", "slot"):
        return
    try:
        data = json.loads(row.data or "{}")
    except ValueError:
        data = {}
    if row.type_name == "slot":
        if data.get("name") == "fact_key" and data.get("value"):
            key = f",{data['value']},"
            if key not in (summary.topics or ""):
                summary.topics = (summary.topics or ",") + str(data["value"]) + ","
        return
    if row.type_name == "bot":
        if (data.get("metadata") or {}).get("utter_action") in UNSURE_REPLIES:
            summary.fell_back = True
            if summary.last_user_text:
                summary.unanswered = ((summary.unanswered or "") + summary.last_user_text[:200] + "\n")[-SEARCH_LIMIT:]
                summary.last_user_text = None
        return
    # PostgreSQL stores no NUL in text, and a channel in at most 30 characters: never refuse a summary for them
    text = str(data.get("text") or "").replace("\x00", "")
    summary.last_user_text = text
    summary.user_messages += 1
    summary.channel = summary.channel or (str(data.get("input_channel"))[:30] if data.get("input_channel") else None)
    summary.preview = summary.preview or text[:200]
    summary.search_text = ((summary.search_text or "") + "\n" + text)[-SEARCH_LIMIT:]
    intent = (data.get("parse_data") or {}).get("intent") or {}
    if intent.get("name") == "nlu_fallback":
        summary.fell_back = True
    confidence = intent.get("confidence")
    if isinstance(confidence, (int, float)) and not text.startswith("/"):
        summary.min_confidence = min(summary.min_confidence if summary.min_confidence is not None else 1.0, confidence)
        if confidence < LOW_CONFIDENCE:
            summary.low_confidence = True


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
        events = _events_table(tracker_url)
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
