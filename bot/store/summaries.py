"""Folding Rasa's tracker events into the console's conversation summaries: the notifier's job, every round.

``refresh`` reads the events newer than a watermark (by id, incrementally, in batches) and folds them
into one ``ConversationSummary`` per conversation; the console only reads what was folded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Optional, Sequence

import sqlalchemy as sa
from sqlalchemy import Column, Integer, String, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from bot import db
from bot.db import Base
from bot.store.conversations import LOW_CONFIDENCE, ConversationSummary, events_table

logger = logging.getLogger(__name__)
# how much visitor text a summary keeps for searching (the newest)
SEARCH_LIMIT = 4000
BATCH = 5000  # events read and folded in one unit of work
# replies that leave the visitor without an answer: the conversation needs review
UNSURE_REPLIES = {"utter_clarify", "utter_default", "utter_clarify_consultant", "utter_no_fact", "utter_other_licence"}


class Watermark(Base):
    """The id of the last tracker event folded (one row, ``events``)."""

    __tablename__ = "conversation_watermark"

    name = Column(String(50), primary_key=True)
    last_event_id = Column(Integer, nullable=False, default=0)


def refresh(tracker_url: str, database_url: str, *, max_batches: Optional[int] = None) -> int:
    """Fold events newer than the watermark into summaries; return how many were read.

    Each batch locks the watermark row for its unit of work, so two refreshers (two notifier instances)
    never fold the same events twice: the second waits, then reads the advanced watermark; one that cannot
    get the lock in time leaves the work to the holder. ``max_batches`` bounds one call (the worker also
    has leads to deliver).
    """
    try:
        events = events_table(tracker_url)
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
