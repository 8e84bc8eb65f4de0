"""Leads and the notification outbox: models and queries.

A lead and its notifications are written in one transaction (the outbox
pattern): the notifier (notifier/worker.py) delivers the rows later, so a failing
notifier never loses a lead. Query functions take an explicit ``session``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Optional

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Session, relationship

from bot.db import Base, utcnow

logger = logging.getLogger(__name__)

STATUSES = ("new", "contacted", "qualified", "won", "lost")
# what staff read for each status (the console is in Chinese; the API keeps the codes)
STATUS_LABELS = {"new": "新线索", "contacted": "已联系", "qualified": "有意向", "won": "已成交", "lost": "已流失"}
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
    conversation_id = Column(String(255), nullable=False, index=True)  # Rasa's sender_id: up to 255
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
    # 微信客服: the link (scene) and its parameter that brought the visitor (bot/store/wecom_kf.py)
    scene = Column(String(64), nullable=True, index=True)
    scene_param = Column(String(255), nullable=True)
    status = Column(String(20), nullable=False, default="new", index=True)
    assignee = Column(String(100), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def as_dict(self, mask: bool = True) -> dict:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "name": self.name,
            "phone": mask_phone(self.phone) if mask else self.phone,
            "company": self.company,
            "region": self.region,
            "licence": self.licence,
            "note": self.note,
            "visitor_note": self.visitor_note,
            "duplicate_of": self.duplicate_of,
            "consent": self.consent,
            "topics": self.topics or [],
            "eligibility": self.eligibility,
            "scene": self.scene,
            "scene_param": self.scene_param,
            "status": self.status,
            "assignee": self.assignee,
            "created_at": self.created_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }


class Notification(Base):
    """A lead event staff must hear about (the outbox); the notifier decides the channels.

    ``notifier`` is ``lead`` (every channel the notifier has configured) for rows
    queued since migration 0003; older rows name one channel. ``delivered_to``
    lists the channels that already have it, so a retry never repeats them.
    """

    __tablename__ = "notification_outbox"

    id = Column(Integer, primary_key=True)
    lead_id = Column(Integer, ForeignKey("leads.id"), nullable=False, index=True)
    notifier = Column(String(20), nullable=False)  # lead (all channels) | wecom | email | webhook
    event = Column(String(30), nullable=False)  # lead_created | lead_updated
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    locked_until = Column(DateTime, nullable=True)
    delivered_at = Column(DateTime, nullable=True, index=True)
    last_error = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    delivered_to = Column(JSON, nullable=True)  # ["wecom", …]: channels done

    lead = relationship(Lead)

    @property
    def idempotency_key(self) -> str:
        return f"lead-{self.lead_id}-notification-{self.id}"


ALL_CHANNELS = "lead"
VISITOR_FIELDS = ("channel", "name", "company", "region", "licence", "visitor_note", "consent", "eligibility")


def save_lead(
    data: dict,
    *,
    session: Session,
    now: Optional[dt.datetime] = None,
    hourly_limit: int = NOTIFY_PER_HOUR,
    notify: bool = True,
) -> tuple[Lead, bool]:
    """Insert a lead, or update this conversation's lead with the same phone from the last 24 h.

    A phone already known from another conversation never changes that lead:
    a new lead is stored with ``duplicate_of`` pointing at the first one.
    Staff notes (``note``) are never written here. Queues the notification (one
    outbox row; the notifier sends it on every channel it has) in the same
    transaction, within the per-phone and hourly limits. Returns (lead, created).
    """
    now = now or utcnow()
    existing = (
        session.execute(
            select(Lead)
            .where(
                Lead.phone == data["phone"],
                Lead.conversation_id == data["conversation_id"],
                Lead.created_at >= now - DEDUPE_WINDOW,
            )
            .order_by(Lead.created_at.desc(), Lead.id.desc())
        )
        .scalars()
        .first()
    )
    created = existing is None
    lead = existing or Lead(
        created_at=now,
        status="new",
        conversation_id=data["conversation_id"],
        phone=data["phone"],
        duplicate_of=_first_with_phone(data["phone"], session),
    )
    for field in VISITOR_FIELDS:
        value = data.get(field)
        if value not in (None, "") or created:
            setattr(lead, field, value)
    lead.topics = sorted(set((lead.topics or []) + list(data.get("topics") or [])))
    if created and lead.channel == "wecom_kf":
        from bot.store import wecom_kf  # the KF channel's own tables: only its leads read them

        lead.scene, lead.scene_param = wecom_kf.scene_of(lead.conversation_id, session=session)
    lead.updated_at = now
    if created:
        session.add(lead)
    session.flush()
    if notify and not _may_notify(lead.phone, now, hourly_limit, session):
        logger.info(
            "lead %s (%s) stored without staff notification: notification limit reached",
            lead.id,
            mask_phone(lead.phone),
        )
        notify = False
    if notify:
        session.add(
            Notification(
                lead_id=lead.id,
                notifier=ALL_CHANNELS,
                created_at=now,
                event="lead_created" if created else "lead_updated",
                next_attempt_at=now,
            )
        )
    return lead, created


def recent_leads(conversation_id: str, *, session: Session, now: Optional[dt.datetime] = None) -> int:
    """How many leads this conversation created in the last 24 h."""
    now = now or utcnow()
    return session.execute(
        select(func.count())
        .select_from(Lead)
        .where(Lead.conversation_id == conversation_id, Lead.created_at >= now - DEDUPE_WINDOW)
    ).scalar_one()


def _first_with_phone(phone: str, session: Session) -> Optional[int]:
    """The id of the first lead with ``phone`` (what a repeat links to), or None."""
    earlier = session.execute(
        select(Lead.id, Lead.duplicate_of).where(Lead.phone == phone).order_by(Lead.created_at.desc(), Lead.id.desc())
    ).first()
    if earlier is None:
        return None
    return earlier.duplicate_of or earlier.id


def _may_notify(phone: str, now: dt.datetime, hourly_limit: int, session: Session) -> bool:
    """Whether one more notification round fits this phone's and everyone's hourly allowance."""
    since = now - NOTIFY_WINDOW
    rounds = (
        select(Notification.lead_id, Notification.event, Notification.created_at)
        .distinct()
        .where(Notification.created_at >= since, Notification.created_at <= now)
    )
    everyone = session.execute(select(func.count()).select_from(rounds.subquery())).scalar_one()
    if hourly_limit and everyone >= hourly_limit:
        return False
    mine = session.execute(
        select(func.count()).select_from(
            rounds.join(Lead, Lead.id == Notification.lead_id).where(Lead.phone == phone).subquery()
        )
    ).scalar_one()
    return mine < NOTIFY_PER_PHONE


def list_leads(*, session: Session, status: Optional[str] = None, limit: int = 50, offset: int = 0) -> list[Lead]:
    query = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc())
    if status:
        query = query.where(Lead.status == status)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())
