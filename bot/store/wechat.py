"""What the WeChat channel shares between processes, in the database.

- the signed requests seen in the last minutes (timestamp + nonce, with a
  digest of the body), so a captured URL cannot carry another body;
- message de-duplication (sender + MsgId, or sender + CreateTime for events)
  and the reply given, so retries get the same answer;
- the numbered options last offered to each follower;
- the access token, as a wechatpy session storage (one token for all
  processes, refreshed before it expires; the API client is
  bot/plugins/channels/wechat_api.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import time
from typing import Any, List, Optional

from sqlalchemy import Column, DateTime, Float, String, Text, delete
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.db import Base, utcnow

KEEP = dt.timedelta(days=1)
# a timestamp is accepted for 5 minutes either side of now: remember its nonce for longer than that
SEEN_KEEP = dt.timedelta(minutes=15)
REFRESH_MARGIN = 300  # seconds before expiry when a token counts as expired


class ProcessedMessage(Base):
    __tablename__ = "wechat_processed"

    key = Column(String(200), primary_key=True)
    status = Column(String(20), nullable=False)  # processing | replied | later
    reply = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class SeenRequest(Base):
    __tablename__ = "wechat_requests"

    key = Column(String(100), primary_key=True)  # "<timestamp>:<nonce>"
    body_digest = Column(String(64), nullable=False)
    seen_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class OfferedChoices(Base):
    __tablename__ = "wechat_choices"

    openid = Column(String(100), primary_key=True)
    payloads = Column(Text, nullable=False)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


class SharedValue(Base):
    __tablename__ = "wechat_shared"

    key = Column(String(200), primary_key=True)
    value = Column(Text, nullable=False)
    expires_at = Column(Float, nullable=True)


def admit(url: str, timestamp: str, nonce: str, body_digest: str) -> bool:
    """Record a signed request; False when its timestamp and nonce already came with another body.

    The same request again (WeChat retrying) is admitted: de-duplication
    answers it with the first reply.
    """
    key = f"{timestamp}:{nonce}"
    try:
        with db.session_scope(url) as session:
            session.execute(delete(SeenRequest).where(SeenRequest.seen_at < utcnow() - SEEN_KEEP))
            session.add(SeenRequest(key=key, body_digest=body_digest))
        return True
    except IntegrityError:
        with db.session_scope(url) as session:
            row = session.get(SeenRequest, key)
            return row is not None and hmac.compare_digest(row.body_digest, body_digest)


def claim(url: str, key: str) -> bool:
    """Record that ``key`` is being processed; False when it already was (a retry)."""
    try:
        with db.session_scope(url) as session:
            session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < utcnow() - KEEP))
            session.add(ProcessedMessage(key=key, status="processing"))
        return True
    except IntegrityError:
        return False


def finish(url: str, key: str, reply: Optional[str]) -> None:
    """Store the passive reply (text), or that the answer goes out later (None)."""
    with db.session_scope(url) as session:
        row = session.get(ProcessedMessage, key)
        if row is not None:
            row.status = "later" if reply is None else "replied"
            row.reply = reply


async def wait_reply(url: str, key: str, timeout: float) -> Optional[str]:
    """Wait for the first delivery's outcome; its reply text, or None for ``success``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session_scope(url) as session:
            row = session.get(ProcessedMessage, key)
            if row is not None and row.status != "processing":
                return row.reply or None
        await asyncio.sleep(0.2)
    return None


def remember_choices(url: str, openid: str, payloads: List[str]) -> None:
    with db.session_scope(url) as session:
        row = session.get(OfferedChoices, openid)
        if not payloads:
            if row is not None:
                session.delete(row)
            return
        if row is None:
            session.add(OfferedChoices(openid=openid, payloads=json.dumps(payloads, ensure_ascii=False)))
        else:
            row.payloads = json.dumps(payloads, ensure_ascii=False)
            row.updated_at = utcnow()


def forget(url: str, openids: List[str]) -> None:
    """Drop what is kept for these followers (retention): options offered and stale dedupe rows."""
    with db.session_scope(url) as session:
        session.execute(delete(OfferedChoices).where(OfferedChoices.openid.in_(openids)))
        # dedupe rows live a day and a purged conversation has been silent longer: drop every old one
        session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < utcnow() - KEEP))
        session.execute(delete(SeenRequest).where(SeenRequest.seen_at < utcnow() - SEEN_KEEP))


def choice(url: str, openid: str, number: int) -> Optional[str]:
    """The payload of option ``number`` last offered to ``openid``."""
    with db.session_scope(url) as session:
        row = session.get(OfferedChoices, openid)
        payloads = json.loads(row.payloads) if row is not None else []
    return payloads[number - 1] if 1 <= number <= len(payloads) else None


class SqlSessionStorage:
    """wechatpy session storage backed by the shared database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, key: str, default: Any = None) -> Any:
        with db.session_scope(self.url) as session:
            row = session.get(SharedValue, key)
            if row is None or (row.expires_at is not None and row.expires_at - time.time() < REFRESH_MARGIN):
                return default
            return json.loads(row.value)

    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None:
        with db.session_scope(self.url) as session:
            row = session.get(SharedValue, key)
            expires = time.time() + ttl if ttl else None
            if row is None:
                session.add(SharedValue(key=key, value=json.dumps(value), expires_at=expires))
            else:
                row.value, row.expires_at = json.dumps(value), expires

    def delete(self, key: str) -> None:
        with db.session_scope(self.url) as session:
            session.execute(delete(SharedValue).where(SharedValue.key == key))
