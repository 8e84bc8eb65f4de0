"""Handoffs: conversations a human was asked to take over, and who holds them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Optional

from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session

from bot.db import Base, utcnow

# the metadata key under which the public channels pass a key of the visitor's address (never the address)
CLIENT = "client"


def client_key(address: str, secret: str) -> str:
    """A key of ``address`` that says "same visitor" without saying which address (HMAC-SHA256, 16 hex)."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]


class Handoff(Base):
    """A conversation a human was asked to take over."""

    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)  # Rasa's sender_id: up to 255
    channel = Column(String(30), nullable=False)
    status = Column(String(20), nullable=False, default="queued", index=True)  # queued|claimed|ended|expired
    agent = Column(String(100), nullable=True)
    # a key of the visitor's address (the channel's CLIENT metadata): places in the queue are limited per address
    client = Column(String(64), nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    claimed_at = Column(DateTime, nullable=True)
    ended_at = Column(DateTime, nullable=True)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "status": self.status,
            "agent": self.agent,
            "created_at": self.created_at.isoformat() + "Z",
            "claimed_at": self.claimed_at.isoformat() + "Z" if self.claimed_at else None,
        }


def open_handoff(conversation_id: str, *, session: Session) -> Optional[Handoff]:
    return (
        session.execute(
            select(Handoff)
            .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(("queued", "claimed")))
            .order_by(Handoff.id.desc())
        )
        .scalars()
        .first()
    )


def queue_handoff(conversation_id: str, channel: str, *, session: Session, client: Optional[str] = None) -> Handoff:
    existing = open_handoff(conversation_id, session=session)
    if existing:
        return existing
    handoff = Handoff(conversation_id=conversation_id, channel=channel, status="queued", client=client)
    session.add(handoff)
    session.flush()
    return handoff


def expired_handoffs(timeout: dt.timedelta, *, session: Session, now: Optional[dt.datetime] = None) -> list[Handoff]:
    now = now or utcnow()
    return list(
        session.execute(select(Handoff).where(Handoff.status == "queued", Handoff.created_at < now - timeout)).scalars()
    )
