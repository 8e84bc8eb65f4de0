"""What the 微信客服 (WeCom KF) channel keeps in the database, shared by every process that runs it.

- per KF account (``open_kfid``): the ``sync_msg`` cursor, moved only after a batch is handed on; the
  newest callback token; who is pulling now (a lease, so two instances never pull the same account at
  once) and whether a callback came meanwhile (``pending``: the puller pulls again);
- per message (``open_kfid`` + ``msgid``): whether it is taken (by whom, until when), done, or part of the
  backlog skipped on first start; what the assistant answered, so a retake after a crash sends that
  answer again (with the same WeChat msgids) instead of asking the assistant twice;
- per visitor (``external_userid``): the KF account, the ``scene`` and ``scene_param`` of the link that
  brought them, the session state last seen, the servicer, and the 48 h / 5-message budget;
- problems staff must see: deliveries WeChat refused or reported failed, answers held back by its rules.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Callable, Optional

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Text, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import db
from bot.db import Base, utcnow

CHANNEL = "wecom_kf"
KEEP = dt.timedelta(days=4)  # sync_msg returns at most 3 days: a msgid older than that never comes back
LEASE = 60.0  # seconds a puller or a message stays taken without a sign of life
WINDOW = 48 * 3600  # seconds after the visitor's last message in which WeChat lets us send
BUDGET = 5  # messages WeChat lets us send in that window
RESERVED = 1  # of those, kept for a handoff notice


class KFAccount(Base):
    __tablename__ = "wecom_kf_accounts"

    open_kfid = Column(String(64), primary_key=True)
    cursor = Column(String(256), nullable=True)
    sync_token = Column(String(256), nullable=True)  # the newest callback's token (valid 10 minutes)
    token_at = Column(Float, nullable=True)
    skip_before = Column(Float, nullable=False)  # messages sent before: the backlog, never answered
    pending = Column(Boolean, nullable=False, default=False)
    holder = Column(String(64), nullable=True)
    lease_until = Column(Float, nullable=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


class KFMessage(Base):
    __tablename__ = "wecom_kf_messages"

    open_kfid = Column(String(64), primary_key=True)
    msgid = Column(String(64), primary_key=True)
    status = Column(String(20), nullable=False)  # taken | answered | done | skipped
    holder = Column(String(64), nullable=True)
    lease_until = Column(Float, nullable=True)
    reply = Column(Text, nullable=True)  # JSON: what to send, kept until it is sent
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class KFVisitor(Base):
    __tablename__ = "wecom_kf_visitors"

    external_userid = Column(String(64), primary_key=True)
    open_kfid = Column(String(64), nullable=False)
    scene = Column(String(64), nullable=True, index=True)
    scene_param = Column(String(255), nullable=True)
    state = Column(Integer, nullable=False, default=0)
    servicer = Column(String(64), nullable=True)
    last_customer_at = Column(Float, nullable=True)  # send_time of the visitor's last message
    sent_since = Column(Integer, nullable=False, default=0)  # messages we sent after it
    first_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, index=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.external_userid,
            "open_kfid": self.open_kfid,
            "scene": self.scene,
            "scene_param": self.scene_param,
            "state": self.state,
            "servicer": self.servicer,
            "first_at": self.first_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }


class KFProblem(Base):
    __tablename__ = "wecom_kf_problems"

    id = Column(Integer, primary_key=True)
    external_userid = Column(String(64), nullable=False, index=True)
    open_kfid = Column(String(64), nullable=True)
    kind = Column(String(30), nullable=False)  # refused | failed | held | api
    code = Column(Integer, nullable=True)  # WeChat's errcode or fail_type, never its text
    detail = Column(String(200), nullable=False)  # our words
    text = Column(Text, nullable=True)  # what did not reach the visitor
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.external_userid,
            "kind": self.kind,
            "code": self.code,
            "detail": self.detail,
            "text": self.text,
            "created_at": self.created_at.isoformat() + "Z",
        }


# ---------- accounts: cursor, token, lease


def _insert(url: str, row: Any, model: Any, key: Any) -> bool:
    """Insert ``row`` unless one with ``key`` exists (another process may insert it at the same time)."""
    with db.session_scope(url) as session:
        if session.get(model, key) is not None:
            return False
    try:
        with db.session_scope(url) as session:
            session.add(row)
        return True
    except IntegrityError:
        return False


def account(url: str, open_kfid: str, skip_before: float) -> dict[str, Any]:
    """The account's row as a dict, created (backlog before ``skip_before``) if it is new."""
    _insert(url, KFAccount(open_kfid=open_kfid, skip_before=skip_before), KFAccount, open_kfid)
    with db.session_scope(url) as session:
        row = session.get(KFAccount, open_kfid)
        return {"cursor": row.cursor, "skip_before": row.skip_before, "sync_token": row.sync_token}


def nudge(url: str, open_kfid: str, token: Optional[str], skip_before: float) -> None:
    """Record a callback: its token and that the account has news."""
    account(url, open_kfid, skip_before)
    with db.session_scope(url) as session:
        values: dict[str, Any] = {"pending": True, "updated_at": utcnow()}
        if token:
            values.update(sync_token=token, token_at=time.time())
        session.execute(update(KFAccount).where(KFAccount.open_kfid == open_kfid).values(**values))


def take_account(url: str, open_kfid: str, holder: str, now: Optional[float] = None) -> bool:
    """Take the account for pulling (one puller at a time); clears ``pending``. False: someone else pulls."""
    now = time.time() if now is None else now
    with db.session_scope(url) as session:
        taken = session.execute(
            update(KFAccount)
            .where(
                KFAccount.open_kfid == open_kfid,
                (KFAccount.holder.is_(None)) | (KFAccount.holder == holder) | (KFAccount.lease_until < now),
            )
            .values(holder=holder, lease_until=now + LEASE, pending=False)
        ).rowcount
    return bool(taken)


def renew(url: str, holder: str) -> None:
    """Extend the leases of everything ``holder`` has in hand (accounts it pulls, messages it handles)."""
    until = time.time() + LEASE
    with db.session_scope(url) as session:
        session.execute(update(KFAccount).where(KFAccount.holder == holder).values(lease_until=until))
        session.execute(
            update(KFMessage)
            .where(KFMessage.holder == holder, KFMessage.status.in_(("taken", "answered")))
            .values(lease_until=until)
        )


def release_account(url: str, open_kfid: str, holder: str) -> bool:
    """Let the account go; True when a callback came meanwhile (then it is kept: pull again)."""
    with db.session_scope(url) as session:
        row = session.get(KFAccount, open_kfid)
        if row is None or row.holder != holder:
            return False
        if row.pending:
            row.pending = False
            row.lease_until = time.time() + LEASE
            return True
        row.holder, row.lease_until = None, None
        return False


def save_cursor(url: str, open_kfid: str, cursor: str) -> None:
    with db.session_scope(url) as session:
        session.execute(
            update(KFAccount).where(KFAccount.open_kfid == open_kfid).values(cursor=cursor, updated_at=utcnow())
        )


def forget_token(url: str, open_kfid: str, token: str) -> None:
    """Drop a callback token WeChat no longer accepts (95007): pull without one."""
    with db.session_scope(url) as session:
        session.execute(
            update(KFAccount)
            .where(KFAccount.open_kfid == open_kfid, KFAccount.sync_token == token)
            .values(sync_token=None, token_at=None)
        )


# ---------- messages: durable de-duplication


def take_message(url: str, open_kfid: str, msgid: str, holder: str, skipped: bool = False) -> Optional[dict]:
    """Take a message to handle; None when it is done or skipped.

    Returns ``{"reply": …}``: the answer kept from a holder that died before sending it (or None), or
    ``{"busy": True}`` when a live holder has it.
    """
    now = time.time()
    status = "skipped" if skipped else "taken"
    fresh = KFMessage(open_kfid=open_kfid, msgid=msgid, status=status, holder=holder, lease_until=now + LEASE)
    if _insert(url, fresh, KFMessage, (open_kfid, msgid)):
        return None if skipped else {"reply": None}
    with db.session_scope(url) as session:
        taken = session.execute(
            update(KFMessage)
            .where(
                KFMessage.open_kfid == open_kfid,
                KFMessage.msgid == msgid,
                KFMessage.status.in_(("taken", "answered")),
                (KFMessage.holder == holder) | (KFMessage.lease_until < now),
            )
            .values(holder=holder, lease_until=now + LEASE)
        ).rowcount
        row = session.get(KFMessage, (open_kfid, msgid))
        if not taken:
            return {"busy": True} if row is not None and row.status in ("taken", "answered") else None
        if skipped:
            row.status = "skipped"
            return None
        return {"reply": json.loads(row.reply) if row.reply else None}


def answered(url: str, open_kfid: str, msgid: str, reply: Any) -> None:
    """Keep the assistant's answer before sending it: a retake sends it, never asks again."""
    with db.session_scope(url) as session:
        session.execute(
            update(KFMessage)
            .where(KFMessage.open_kfid == open_kfid, KFMessage.msgid == msgid)
            .values(status="answered", reply=json.dumps(reply, ensure_ascii=False))
        )


def done(url: str, open_kfid: str, msgid: str) -> None:
    with db.session_scope(url) as session:
        session.execute(
            update(KFMessage)
            .where(KFMessage.open_kfid == open_kfid, KFMessage.msgid == msgid)
            .values(status="done", reply=None, holder=None, lease_until=None)
        )


def unfinished(url: str, open_kfid: str, msgids: list[str]) -> list[str]:
    """Which of ``msgids`` are not done or skipped (a batch is handed on when this is empty)."""
    if not msgids:
        return []
    with db.session_scope(url) as session:
        finished = set(
            session.execute(
                select(KFMessage.msgid).where(
                    KFMessage.open_kfid == open_kfid,
                    KFMessage.msgid.in_(msgids),
                    KFMessage.status.in_(("done", "skipped")),
                )
            ).scalars()
        )
    return [m for m in msgids if m not in finished]


def prune(url: str) -> None:
    """Drop message rows older than anything sync_msg can return again."""
    with db.session_scope(url) as session:
        session.execute(
            delete(KFMessage).where(KFMessage.created_at < utcnow() - KEEP, KFMessage.status.in_(("done", "skipped")))
        )


# ---------- visitors: attribution, state, budget


def visitor(url: str, external_userid: str) -> Optional[dict[str, Any]]:
    with db.session_scope(url) as session:
        row = session.get(KFVisitor, external_userid)
        if row is None:
            return None
        return {
            "open_kfid": row.open_kfid,
            "scene": row.scene,
            "scene_param": row.scene_param,
            "state": row.state,
            "servicer": row.servicer,
            "last_customer_at": row.last_customer_at,
            "sent_since": row.sent_since,
        }


def _visitor_row(session: Session, external_userid: str, open_kfid: str) -> KFVisitor:
    row = session.get(KFVisitor, external_userid)
    if row is None:
        row = KFVisitor(external_userid=external_userid, open_kfid=open_kfid, state=0, sent_since=0)
        session.add(row)
    row.open_kfid = open_kfid
    row.updated_at = utcnow()
    return row


def _change_visitor(url: str, external_userid: str, open_kfid: str, change: Callable[[KFVisitor], None]) -> None:
    """Apply ``change`` to the visitor's row (made if new; once more if another process made it meanwhile)."""
    for attempt in (1, 2):
        try:
            with db.session_scope(url) as session:
                change(_visitor_row(session, external_userid, open_kfid))
            return
        except IntegrityError:
            if attempt == 2:
                raise


def entered(url: str, external_userid: str, open_kfid: str, scene: str, scene_param: str) -> None:
    """The visitor opened the chat from a link: remember which (a later link replaces an earlier one)."""

    def change(row: KFVisitor) -> None:
        if scene or scene_param:
            row.scene, row.scene_param = scene[:64] or None, scene_param[:255] or None

    _change_visitor(url, external_userid, open_kfid, change)


def customer_spoke(url: str, external_userid: str, open_kfid: str, send_time: float) -> None:
    """A message from the visitor: the 48 h window and the 5 messages start again."""

    def change(row: KFVisitor) -> None:
        if row.last_customer_at is None or send_time >= row.last_customer_at:
            row.last_customer_at, row.sent_since = send_time, 0
        if row.state == 4:  # a message after the session ended opens a new one (state 0)
            row.state, row.servicer = 0, None

    _change_visitor(url, external_userid, open_kfid, change)


def allowance(url: str, external_userid: str, notice: bool = False, now: Optional[float] = None) -> int:
    """How many messages may go to the visitor now (one is kept for a handoff notice unless ``notice``)."""
    now = time.time() if now is None else now
    with db.session_scope(url) as session:
        row = session.get(KFVisitor, external_userid)
        if row is None or row.last_customer_at is None or now - row.last_customer_at > WINDOW:
            return 0
        left = BUDGET - row.sent_since
        return max(0, left if notice else left - RESERVED)


def spend(url: str, external_userid: str, count: int = 1) -> None:
    with db.session_scope(url) as session:
        session.execute(
            update(KFVisitor)
            .where(KFVisitor.external_userid == external_userid)
            .values(sent_since=KFVisitor.sent_since + count)
        )


def exhaust(url: str, external_userid: str) -> None:
    """WeChat said the budget is spent (95001): believe it."""
    with db.session_scope(url) as session:
        session.execute(update(KFVisitor).where(KFVisitor.external_userid == external_userid).values(sent_since=BUDGET))


def set_state(url: str, external_userid: str, open_kfid: str, state: int, servicer: Optional[str] = None) -> None:

    def change(row: KFVisitor) -> None:
        row.state = state
        row.servicer = servicer if state == 3 else None

    _change_visitor(url, external_userid, open_kfid, change)


def scene_of(external_userid: str, *, session: Session) -> tuple[Optional[str], Optional[str]]:
    """The scene and scene_param that brought this visitor (for a lead)."""
    row = session.get(KFVisitor, external_userid)
    return (row.scene, row.scene_param) if row is not None else (None, None)


def visitors(
    url: str, scene: Optional[str] = None, limit: int = 200, offset: int = 0
) -> tuple[list[dict[str, Any]], list[str]]:
    """KF visitors, newest first, optionally of one scene; and every scene seen (for a filter)."""
    with db.session_scope(url) as session:
        query = select(KFVisitor).order_by(KFVisitor.updated_at.desc())
        if scene:
            query = query.where(KFVisitor.scene == scene)
        rows = [row.as_dict() for row in session.execute(query.limit(limit).offset(offset)).scalars()]
        scenes = [
            s
            for s in session.execute(select(KFVisitor.scene).distinct().order_by(KFVisitor.scene)).scalars()
            if s is not None
        ]
    return rows, scenes


# ---------- problems staff must see


def problem(
    url: str,
    external_userid: str,
    open_kfid: Optional[str],
    kind: str,
    detail: str,
    code: Optional[int] = None,
    text: Optional[str] = None,
) -> None:
    with db.session_scope(url) as session:
        session.add(
            KFProblem(
                external_userid=external_userid[:64],
                open_kfid=(open_kfid or "")[:64] or None,
                kind=kind,
                code=code,
                detail=detail[:200],
                text=(text or "")[:2000] or None,
            )
        )


def forget(url: str, external_userids: list[str]) -> None:
    """Drop what is kept about these visitors (retention): their scene, state and undelivered messages."""
    from bot.store import wechat

    with db.session_scope(url) as session:
        session.execute(delete(KFVisitor).where(KFVisitor.external_userid.in_(external_userids)))
        session.execute(delete(KFProblem).where(KFProblem.external_userid.in_(external_userids)))
    wechat.forget(url, [f"kf:{external_userid}" for external_userid in external_userids])


def problems(url: str, external_userid: Optional[str] = None, limit: int = 200) -> list[dict[str, Any]]:
    with db.session_scope(url) as session:
        query = select(KFProblem).order_by(KFProblem.id.desc()).limit(limit)
        if external_userid:
            query = query.where(KFProblem.external_userid == external_userid)
        return [row.as_dict() for row in session.execute(query).scalars()]
