"""Leads, the notification outbox, handoffs and staff access: models and queries.

A lead and its notifications are written in one transaction (the outbox
pattern): the worker in bot/notify.py delivers the rows later, so a failing
notifier never loses a lead. Query functions take an explicit ``session``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from typing import Iterable, Optional

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Session, relationship

from bot.db import Base, utcnow


STATUSES = ("new", "contacted", "qualified", "won", "lost")
ROLES = ("admin", "agent")
DEDUPE_WINDOW = dt.timedelta(hours=24)
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")



def normalize_phone(raw: str) -> Optional[str]:
    """Return a mainland mobile (11 digits) or landline with area code, or None."""
    text = re.sub(r"[\s()（）]", "", str(raw or ""))
    text = re.sub(r"^(\+?86)(?=1)", "", text)
    if MOBILE.match(text):
        return text
    if LANDLINE.match(text):
        return text
    return None


def mask_phone(phone: Optional[str]) -> str:
    """138****5678: what logs, lists and agents' exports show."""
    if not phone:
        return ""
    digits = phone.replace("-", "")
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


class Lead(Base):
    __tablename__ = "leads"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(30), nullable=False)
    name = Column(String(100), nullable=False)
    phone = Column(String(30), nullable=False, index=True)
    company = Column(String(200), nullable=True)
    region = Column(String(100), nullable=True)
    licence = Column(String(10), nullable=True)  # 全网/地网/不确定
    note = Column(Text, nullable=True)
    consent = Column(Boolean, nullable=False, default=False)
    topics = Column(JSON, nullable=True)  # what the visitor asked about
    eligibility = Column(Text, nullable=True)
    status = Column(String(20), nullable=False, default="new", index=True)
    assignee = Column(String(100), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def as_dict(self, mask: bool = True) -> dict:
        return {
            "id": self.id, "conversation_id": self.conversation_id, "channel": self.channel, "name": self.name,
            "phone": mask_phone(self.phone) if mask else self.phone, "company": self.company,
            "region": self.region, "licence": self.licence, "note": self.note, "consent": self.consent,
            "topics": self.topics or [], "eligibility": self.eligibility, "status": self.status,
            "assignee": self.assignee, "created_at": self.created_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }


class Notification(Base):
    """One message to one notifier about one lead (the outbox)."""

    __tablename__ = "notification_outbox"

    id = Column(Integer, primary_key=True)
    lead_id = Column(Integer, ForeignKey("leads.id"), nullable=False, index=True)
    notifier = Column(String(20), nullable=False)  # wecom | email | webhook
    event = Column(String(30), nullable=False)  # lead_created | lead_updated
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    locked_until = Column(DateTime, nullable=True)
    delivered_at = Column(DateTime, nullable=True, index=True)
    last_error = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    lead = relationship(Lead)

    @property
    def idempotency_key(self) -> str:
        return f"lead-{self.lead_id}-notification-{self.id}"


class Handoff(Base):
    """A conversation a human was asked to take over."""

    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(30), nullable=False)
    status = Column(String(20), nullable=False, default="queued", index=True)  # queued|claimed|ended|expired
    agent = Column(String(100), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    claimed_at = Column(DateTime, nullable=True)
    ended_at = Column(DateTime, nullable=True)

    def as_dict(self) -> dict:
        return {"id": self.id, "conversation_id": self.conversation_id, "channel": self.channel,
                "status": self.status, "agent": self.agent, "created_at": self.created_at.isoformat() + "Z",
                "claimed_at": self.claimed_at.isoformat() + "Z" if self.claimed_at else None}


def open_handoff(conversation_id: str, *, session: Session) -> Optional[Handoff]:
    return session.execute(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                 Handoff.status.in_(("queued", "claimed")))
                           .order_by(Handoff.id.desc())).scalars().first()


def queue_handoff(conversation_id: str, channel: str, *, session: Session) -> Handoff:
    existing = open_handoff(conversation_id, session=session)
    if existing:
        return existing
    handoff = Handoff(conversation_id=conversation_id, channel=channel, status="queued")
    session.add(handoff)
    session.flush()
    return handoff


def expired_handoffs(timeout: dt.timedelta, *, session: Session, now: Optional[dt.datetime] = None) -> list[Handoff]:
    now = now or utcnow()
    return list(session.execute(select(Handoff).where(Handoff.status == "queued",
                                                      Handoff.created_at < now - timeout)).scalars())


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), unique=True, nullable=False)
    role = Column(String(10), nullable=False)
    password_hash = Column(String(300), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    token_hash = Column(String(64), unique=True, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


# ---------- leads
def save_lead(data: dict, notifiers: Iterable[str], *, session: Session, now: Optional[dt.datetime] = None) -> tuple[Lead, bool]:
    """Insert a lead, or update the one with the same phone from the last 24 h.

    Queues one outbox row per notifier in the same transaction. Returns
    (lead, created).
    """
    now = now or utcnow()
    existing = session.execute(
        select(Lead).where(Lead.phone == data["phone"], Lead.created_at >= now - DEDUPE_WINDOW)
        .order_by(Lead.created_at.desc())
    ).scalars().first()
    created = existing is None
    lead = existing or Lead(created_at=now, status="new")
    for field in ("conversation_id", "channel", "name", "phone", "company", "region", "licence", "note",
                  "consent", "eligibility"):
        value = data.get(field)
        if value not in (None, "") or created:
            setattr(lead, field, value)
    lead.topics = sorted(set((lead.topics or []) + list(data.get("topics") or [])))
    lead.updated_at = now
    if created:
        session.add(lead)
    session.flush()
    for notifier in notifiers:
        session.add(Notification(lead_id=lead.id, notifier=notifier,
                                 event="lead_created" if created else "lead_updated", next_attempt_at=now))
    return lead, created


def list_leads(*, session: Session, status: Optional[str] = None, limit: int = 50, offset: int = 0) -> list[Lead]:
    query = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())
    if status:
        query = query.where(Lead.status == status)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


# ---------- staff users and API tokens
def hash_password(password: str, *, salt: Optional[bytes] = None) -> str:
    """scrypt (a slow, memory-hard KDF) with a random salt."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


def create_user(name: str, role: str, password: str, *, session: Session) -> StaffUser:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")
    if session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none():
        raise ValueError(f"a user named {name!r} already exists")
    user = StaffUser(name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, *, session: Session) -> str:
    """Create an API token; only its hash is stored, so it is shown once."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_token_digest(token)))
    return token


def token_name(token: str, *, session: Session) -> Optional[str]:
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == _token_digest(token))).scalar_one_or_none()
    return row.name if row else None
