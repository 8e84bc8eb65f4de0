"""Leads, the notification outbox, handoffs and staff access: models and queries.

A lead and its notifications are written in one transaction (the outbox
pattern): the worker in bot/notify.py delivers the rows later, so a failing
notifier never loses a lead. Query functions take an explicit ``session``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from typing import Iterable, Optional

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Session, relationship

from bot.db import Base, utcnow

logger = logging.getLogger(__name__)

STATUSES = ("new", "contacted", "qualified", "won", "lost")
ROLES = ("admin", "agent")
DEDUPE_WINDOW = dt.timedelta(hours=24)
# staff notifications: a phone number pings staff at most NOTIFY_PER_PHONE times an hour, and all leads
# together at most ``hourly_limit`` times (NOTIFY_MAX_PER_HOUR); past that leads are stored and listed only
NOTIFY_WINDOW = dt.timedelta(hours=1)
NOTIFY_PER_PHONE = 3
NOTIFY_PER_HOUR = 60
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
    note = Column(Text, nullable=True)  # staff's notes (console); the visitor never writes here
    visitor_note = Column(Text, nullable=True)  # what the visitor added in the form (「补充」)
    # a lead with a phone seen before from another conversation: the first lead with that phone
    duplicate_of = Column(Integer, ForeignKey("leads.id"), nullable=True, index=True)
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
            "region": self.region, "licence": self.licence, "note": self.note, "visitor_note": self.visitor_note,
            "duplicate_of": self.duplicate_of, "consent": self.consent,
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
    # bumped on logout and password change: console sessions signed with an older value are refused
    session_version = Column(Integer, nullable=False, default=0, server_default="0")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    token_hash = Column(String(64), unique=True, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    role = Column(String(10), nullable=False, default="agent", server_default="agent")
    revoked_at = Column(DateTime, nullable=True)


# ---------- leads
VISITOR_FIELDS = ("channel", "name", "company", "region", "licence", "visitor_note", "consent", "eligibility")


def save_lead(data: dict, notifiers: Iterable[str], *, session: Session, now: Optional[dt.datetime] = None,
              hourly_limit: int = NOTIFY_PER_HOUR) -> tuple[Lead, bool]:
    """Insert a lead, or update this conversation's lead with the same phone from the last 24 h.

    A phone already known from another conversation never changes that lead:
    a new lead is stored with ``duplicate_of`` pointing at the first one.
    Staff notes (``note``) are never written here. Queues one outbox row per
    notifier in the same transaction, within the per-phone and hourly limits.
    Returns (lead, created).
    """
    now = now or utcnow()
    existing = session.execute(
        select(Lead).where(Lead.phone == data["phone"], Lead.conversation_id == data["conversation_id"],
                           Lead.created_at >= now - DEDUPE_WINDOW)
        .order_by(Lead.created_at.desc(), Lead.id.desc())
    ).scalars().first()
    created = existing is None
    lead = existing or Lead(created_at=now, status="new", conversation_id=data["conversation_id"],
                            phone=data["phone"], duplicate_of=_first_with_phone(data["phone"], session))
    for field in VISITOR_FIELDS:
        value = data.get(field)
        if value not in (None, "") or created:
            setattr(lead, field, value)
    lead.topics = sorted(set((lead.topics or []) + list(data.get("topics") or [])))
    lead.updated_at = now
    if created:
        session.add(lead)
    session.flush()
    notifiers = list(notifiers)
    if notifiers and not _may_notify(lead.phone, now, hourly_limit, session):
        logger.info("lead %s (%s) stored without staff notification: notification limit reached",
                    lead.id, mask_phone(lead.phone))
        notifiers = []
    for notifier in notifiers:
        session.add(Notification(lead_id=lead.id, notifier=notifier, created_at=now,
                                 event="lead_created" if created else "lead_updated", next_attempt_at=now))
    return lead, created


def recent_leads(conversation_id: str, *, session: Session, now: Optional[dt.datetime] = None) -> int:
    """How many leads this conversation created in the last 24 h."""
    now = now or utcnow()
    return session.execute(select(func.count()).select_from(Lead).where(
        Lead.conversation_id == conversation_id, Lead.created_at >= now - DEDUPE_WINDOW)).scalar_one()


def _first_with_phone(phone: str, session: Session) -> Optional[int]:
    """The id of the first lead with ``phone`` (what a repeat links to), or None."""
    earlier = session.execute(select(Lead.id, Lead.duplicate_of).where(Lead.phone == phone)
                              .order_by(Lead.created_at.desc(), Lead.id.desc())).first()
    if earlier is None:
        return None
    return earlier.duplicate_of or earlier.id


def _may_notify(phone: str, now: dt.datetime, hourly_limit: int, session: Session) -> bool:
    """Whether one more notification round fits this phone's and everyone's hourly allowance."""
    since = now - NOTIFY_WINDOW
    rounds = select(Notification.lead_id, Notification.event, Notification.created_at).distinct() \
        .where(Notification.created_at >= since, Notification.created_at <= now)
    everyone = session.execute(select(func.count()).select_from(rounds.subquery())).scalar_one()
    if hourly_limit and everyone >= hourly_limit:
        return False
    mine = session.execute(select(func.count()).select_from(
        rounds.join(Lead, Lead.id == Notification.lead_id).where(Lead.phone == phone).subquery())).scalar_one()
    return mine < NOTIFY_PER_PHONE


def list_leads(*, session: Session, status: Optional[str] = None, limit: int = 50, offset: int = 0) -> list[Lead]:
    query = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())
    if status:
        query = query.where(Lead.status == status)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


# ---------- staff users and API tokens
STAFF_NAME = re.compile(r"[\w.@-]{1,100}")  # no ":" (API tokens act as "token:NAME"), no spaces
TOKEN_NAME = re.compile(r"[\w.@-]{1,90}")  # "token:NAME" fits handoffs.agent (100)


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


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")


def _check_password_rules(password: str) -> None:
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")


def _user(name: str, session: Session) -> StaffUser:
    user = session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()
    if user is None:
        raise ValueError(f"no user named {name!r}")
    return user


def create_user(name: str, role: str, password: str, *, session: Session) -> StaffUser:
    _check_role(role)
    if not STAFF_NAME.fullmatch(name):
        raise ValueError("a user name has 1-100 letters, digits or . _ @ - (no spaces or colons)")
    _check_password_rules(password)
    if session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none():
        raise ValueError(f"a user named {name!r} already exists")
    user = StaffUser(name=name, role=role, password_hash=hash_password(password), session_version=0)
    session.add(user)
    return user


def list_users(*, session: Session) -> list[StaffUser]:
    return list(session.execute(select(StaffUser).order_by(StaffUser.name)).scalars())


def set_role(name: str, role: str, *, session: Session) -> None:
    """Change a user's role; open sessions get the new role at their next request."""
    _check_role(role)
    _user(name, session).role = role


def set_password(name: str, password: str, *, session: Session) -> None:
    """Set a new password and end every open session of the user."""
    _check_password_rules(password)
    user = _user(name, session)
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 0) + 1


def end_sessions(name: str, *, session: Session) -> None:
    """Log the user out everywhere (every console cookie signed so far is refused)."""
    user = session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()
    if user is not None:
        user.session_version = (user.session_version or 0) + 1


def delete_user(name: str, *, session: Session) -> None:
    """Delete a user; their open sessions are refused at the next request."""
    session.delete(_user(name, session))


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, *, session: Session, role: str = "agent") -> str:
    """Create an API token; only its hash is stored, so it is shown once. One live token per name."""
    _check_role(role)
    if not TOKEN_NAME.fullmatch(name):
        raise ValueError("a token name has 1-90 letters, digits or . _ @ - (no spaces or colons)")
    if session.execute(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first():
        raise ValueError(f"a live token named {name!r} exists: revoke it first (revoke-token {name})")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=_token_digest(token)))
    return token


def token_identity(token: str, *, session: Session) -> Optional[tuple[str, str]]:
    """(name, role) of the live token, or None."""
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == _token_digest(token),
                                                 ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    return (row.name, row.role or "agent") if row else None


def token_name(token: str, *, session: Session) -> Optional[str]:
    identity = token_identity(token, session=session)
    return identity[0] if identity else None


def list_tokens(*, session: Session) -> list[ApiToken]:
    """Live tokens, by name (their hashes only: the tokens themselves are never stored)."""
    return list(session.execute(select(ApiToken).where(ApiToken.revoked_at.is_(None))
                                .order_by(ApiToken.name)).scalars())


def revoke_token(name: str, *, session: Session) -> int:
    """Revoke the live token(s) named ``name``; return how many."""
    rows = session.execute(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).scalars()
    count = 0
    for row in rows:
        row.revoked_at = utcnow()
        count += 1
    return count
