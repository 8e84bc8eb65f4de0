"""Deliver queued lead notifications (the outbox) to staff; expire unclaimed handoffs.

Usage: ``python -m bot.notify`` (started by ``make run``), ``--once`` to
deliver what is due and exit. Notifiers are configured by environment:

- WECOM_WEBHOOK_URL: 企业微信 group robot webhook;
- NOTIFY_WEBHOOK_URL: any JSON webhook (gets an ``Idempotency-Key`` header);
- SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, NOTIFY_EMAIL_TO,
  SMTP_STARTTLS: e-mail.

A row is leased before delivery and marked delivered after it; a worker
killed in between leaves the lease to expire and the row is sent again with
the same idempotency key (receivers can drop the repeat). Failures are
retried with exponential back-off; rows never disappear.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import smtplib
import sys
import time
from email.message import EmailMessage
from typing import Callable, Dict, Optional

import requests
from sqlalchemy import or_, select

from bot import db, leads, rasa_api, settings

logger = logging.getLogger("bot.notify")
LEASE = dt.timedelta(seconds=60)
MAX_BACKOFF = 3600


def configured(env: Optional[dict] = None) -> list[str]:
    env = os.environ if env is None else env
    names = []
    if env.get("WECOM_WEBHOOK_URL"):
        names.append("wecom")
    if env.get("SMTP_HOST") and env.get("NOTIFY_EMAIL_TO"):
        names.append("email")
    if env.get("NOTIFY_WEBHOOK_URL"):
        names.append("webhook")
    return names


def summary(lead: leads.Lead, event: str) -> str:
    verb = "新线索" if event == "lead_created" else "线索更新"
    lines = [f"{verb}：{lead.name} {lead.phone}",
             f"公司：{lead.company or '未填写'}　地区：{lead.region or '未填写'}　意向：{lead.licence or '不确定'}"]
    if lead.topics:
        lines.append("咨询：" + "、".join(lead.topics))
    if lead.eligibility:
        lines.append("预审：" + lead.eligibility)
    if lead.note:
        lines.append("备注：" + lead.note)
    lines.append(f"渠道：{lead.channel}　对话：{lead.conversation_id}")
    return "\n".join(lines)


def send_wecom(row: leads.Notification, env: dict) -> None:
    response = requests.post(env["WECOM_WEBHOOK_URL"], timeout=10, json={
        "msgtype": "text", "text": {"content": summary(row.lead, row.event)}})
    response.raise_for_status()
    body = response.json()
    if body.get("errcode", 0) != 0:
        raise RuntimeError(f"WeCom errcode {body.get('errcode')}: {body.get('errmsg')}")


def send_webhook(row: leads.Notification, env: dict) -> None:
    response = requests.post(env["NOTIFY_WEBHOOK_URL"], timeout=10,
                             headers={"Idempotency-Key": row.idempotency_key},
                             json={"event": row.event, "idempotency_key": row.idempotency_key,
                                   "lead": row.lead.as_dict(mask=False), "text": summary(row.lead, row.event)})
    response.raise_for_status()


def send_email(row: leads.Notification, env: dict) -> None:
    message = EmailMessage()
    message["Subject"] = f"【呼叫中心许可证】{'新线索' if row.event == 'lead_created' else '线索更新'}：{row.lead.name}"
    message["From"] = env.get("SMTP_FROM") or "assistant@localhost"
    message["To"] = env["NOTIFY_EMAIL_TO"]
    message["Message-ID"] = f"<{row.idempotency_key}@callcentre-licence-assistant>"
    message.set_content(summary(row.lead, row.event))
    with smtplib.SMTP(env["SMTP_HOST"], int(env.get("SMTP_PORT") or 25), timeout=10) as smtp:
        if env.get("SMTP_STARTTLS") == "1":
            smtp.starttls()
        if env.get("SMTP_USER"):
            smtp.login(env["SMTP_USER"], env.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)


SENDERS: Dict[str, Callable[[leads.Notification, dict], None]] = {
    "wecom": send_wecom, "email": send_email, "webhook": send_webhook}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF))


def deliver_due(database_url: str, env: Optional[dict] = None, batch: int = 20) -> int:
    """Deliver the due rows once; return how many were delivered."""
    env = dict(os.environ if env is None else env)
    now = leads.utcnow()
    with db.session_scope(database_url) as session:
        rows = session.execute(
            select(leads.Notification).where(
                leads.Notification.delivered_at.is_(None), leads.Notification.next_attempt_at <= now,
                or_(leads.Notification.locked_until.is_(None), leads.Notification.locked_until < now))
            .order_by(leads.Notification.id).limit(batch)).scalars().all()
        for row in rows:
            row.locked_until = now + LEASE
        ids = [row.id for row in rows]
    delivered = 0
    for row_id in ids:
        with db.session_scope(database_url) as session:
            row = session.get(leads.Notification, row_id)
            sender = SENDERS.get(row.notifier)
            try:
                if sender is None:
                    raise RuntimeError(f"unknown notifier {row.notifier!r}")
                sender(row, env)
            except Exception as exc:  # any failure: keep the row, try later
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                row.next_attempt_at = leads.utcnow() + backoff(row.attempts)
                row.locked_until = None
                logger.warning("notification %s (%s, lead %s, %s) failed, attempt %s: %s", row.id, row.notifier,
                               row.lead_id, leads.mask_phone(row.lead.phone), row.attempts, row.last_error)
                continue
            row.attempts += 1
            row.delivered_at = leads.utcnow()
            row.locked_until = None
            row.last_error = None
            delivered += 1
            logger.info("notification %s (%s) delivered for lead %s (%s)", row.id, row.notifier, row.lead_id,
                        leads.mask_phone(row.lead.phone))
    return delivered


def expire_handoffs(config: settings.Settings) -> int:
    """Give unclaimed handoffs back to the bot, which offers the lead form instead."""
    timeout = dt.timedelta(seconds=config.handoff_claim_timeout)
    with db.session_scope(config.database_url) as session:
        expired = [(h.id, h.conversation_id, h.channel)
                   for h in leads.expired_handoffs(timeout, session=session)]
    done = 0
    for handoff_id, conversation_id, channel in expired:
        try:
            rasa_api.append_events(conversation_id, rasa_api.RESUME, config)
            rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_timeout", config, output_channel=channel)
        except rasa_api.RasaUnavailable as exc:
            logger.warning("could not expire handoff %s yet: %s", handoff_id, exc)
            continue
        with db.session_scope(config.database_url) as session:
            row = session.get(leads.Handoff, handoff_id)
            row.status, row.ended_at = "expired", leads.utcnow()
        done += 1
        logger.info("handoff %s was not claimed in time: lead form offered", handoff_id)
    return done


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    parser.add_argument("--interval", type=float, default=float(os.environ.get("NOTIFY_INTERVAL", "2")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings.load()
    names = configured()
    logger.info("notifiers: %s", ", ".join(names) or "none configured (leads are stored and listed only)")
    while True:
        try:
            deliver_due(config.database_url)
            expire_handoffs(config)
        except Exception as exc:  # database briefly unavailable: say so once per round, keep going
            logger.error("outbox round failed: %s", exc)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
