"""Deliver queued lead notifications (the outbox) to staff; expire unclaimed handoffs.

Usage: ``python -m bot.notify`` (started by ``make run``), ``--once`` to
deliver what is due and exit. Notifiers are configured by environment:

- WECOM_WEBHOOK_URL: 企业微信 group robot webhook;
- NOTIFY_WEBHOOK_URL: any JSON webhook (gets an ``Idempotency-Key`` header);
- SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, NOTIFY_EMAIL_TO: e-mail,
  always over verified TLS: STARTTLS by default (port 25), SMTP_SSL=1 for
  TLS from the first byte (port 465), SMTP_CA_FILE for a private CA;
  SMTP_STARTTLS=0 allows cleartext to a local relay, and never with SMTP_USER;
- CONSOLE_PUBLIC_URL (else PUBLIC_URL): where staff open the console; every
  notification links to the lead there instead of naming the conversation;
- NOTIFY_MAX_PER_HOUR (60): notifications for all leads together in an hour
  (one phone number gets at most 3); past it leads are stored and listed only.

Outbox rows and log lines keep an error's type and status code only: URLs
(robot keys, tokens) and servers' error text never reach them.

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
import ssl
import sys
import time
from email.message import EmailMessage
from typing import Callable, Dict, Optional

import requests
from sqlalchemy import or_, select

from bot import db, rasa_api, settings
from bot.store import handoffs, leads

logger = logging.getLogger("bot.notify")
LEASE = dt.timedelta(seconds=60)
MAX_BACKOFF = 3600


class NotifierError(Exception):
    """A refusal whose text we wrote ourselves (safe to store and log)."""


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


def hourly_limit(env: Optional[dict] = None) -> int:
    """NOTIFY_MAX_PER_HOUR: lead notifications an hour for all phones together (0: no ceiling)."""
    env = os.environ if env is None else env
    try:
        return max(int(env.get("NOTIFY_MAX_PER_HOUR") or leads.NOTIFY_PER_HOUR), 0)
    except ValueError:
        return leads.NOTIFY_PER_HOUR


def console_link(lead: leads.Lead, env: dict) -> str:
    """The lead's page in the staff console (staff log in there; the link alone opens nothing)."""
    base = env.get("CONSOLE_PUBLIC_URL") or env.get("PUBLIC_URL") or f"http://localhost:{env.get('WEB_PORT') or 8000}"
    return f"{base.rstrip('/')}/console/leads/{lead.id}"


def describe(exc: BaseException) -> str:
    """What the outbox and the log keep of a failure: its type and status code, never its text."""
    if isinstance(exc, NotifierError):
        return f"{type(exc).__name__}: {exc}"
    status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def summary(lead: leads.Lead, event: str, env: dict) -> str:
    verb = "新线索" if event == "lead_created" else "线索更新"
    lines = [f"{verb}：{lead.name} {lead.phone}",
             f"公司：{lead.company or '未填写'}　地区：{lead.region or '未填写'}　意向：{lead.licence or '不确定'}"]
    if lead.duplicate_of:
        lines.append(f"注意：此号码已有线索 #{lead.duplicate_of}，可能重复或被他人冒填，请核实")
    if lead.topics:
        lines.append("咨询：" + "、".join(lead.topics))
    if lead.eligibility:
        lines.append("预审：" + lead.eligibility)
    if lead.visitor_note:
        lines.append("客户补充：" + lead.visitor_note)
    lines.append(f"渠道：{lead.channel}　详情：{console_link(lead, env)}")
    return "\n".join(lines)


def send_wecom(row: leads.Notification, env: dict) -> None:
    response = requests.post(env["WECOM_WEBHOOK_URL"], timeout=10, json={
        "msgtype": "text", "text": {"content": summary(row.lead, row.event, env)}})
    response.raise_for_status()
    body = response.json()
    if body.get("errcode", 0) != 0:  # errmsg can echo the request: keep the code only
        raise NotifierError(f"WeCom errcode {int(body.get('errcode') or -1)}")


def send_webhook(row: leads.Notification, env: dict) -> None:
    lead = {k: v for k, v in row.lead.as_dict(mask=False).items() if k != "conversation_id"}
    response = requests.post(env["NOTIFY_WEBHOOK_URL"], timeout=10,
                             headers={"Idempotency-Key": row.idempotency_key},
                             json={"event": row.event, "idempotency_key": row.idempotency_key,
                                   "lead": {**lead, "console_url": console_link(row.lead, env)},
                                   "text": summary(row.lead, row.event, env)})
    response.raise_for_status()


def _off(env: dict, name: str) -> bool:
    return (env.get(name) or "").strip().lower() in ("0", "false", "no", "off")


def _on(env: dict, name: str) -> bool:
    return (env.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def send_email(row: leads.Notification, env: dict) -> None:
    """Send over TLS that verifies the server's certificate and name; cleartext only to a relay without login."""
    implicit_tls, starttls = _on(env, "SMTP_SSL"), not _off(env, "SMTP_STARTTLS")
    if env.get("SMTP_USER") and not (implicit_tls or starttls):
        raise NotifierError("SMTP_USER needs TLS: set SMTP_SSL=1 or leave SMTP_STARTTLS on")
    message = EmailMessage()
    message["Subject"] = f"【呼叫中心许可证】{'新线索' if row.event == 'lead_created' else '线索更新'}：{row.lead.name}"
    message["From"] = env.get("SMTP_FROM") or "assistant@localhost"
    message["To"] = env["NOTIFY_EMAIL_TO"]
    message["Message-ID"] = f"<{row.idempotency_key}@callcentre-licence-assistant>"
    message.set_content(summary(row.lead, row.event, env))
    context = ssl.create_default_context(cafile=env.get("SMTP_CA_FILE") or None)
    host, port = env["SMTP_HOST"], int(env.get("SMTP_PORT") or (465 if implicit_tls else 25))
    if implicit_tls:
        smtp = smtplib.SMTP_SSL(host, port, timeout=10, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=10)
    with smtp:
        if starttls and not implicit_tls:
            smtp.starttls(context=context)
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
                    raise NotifierError(f"unknown notifier {row.notifier!r}")
                sender(row, env)
            except Exception as exc:  # any failure: keep the row, try later
                row.attempts += 1
                row.last_error = describe(exc)[:1000]
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
                   for h in handoffs.expired_handoffs(timeout, session=session)]
    done = 0
    for handoff_id, conversation_id, channel in expired:
        try:
            rasa_api.append_events(conversation_id, rasa_api.RESUME, config)
            rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_timeout", config, output_channel=channel)
        except rasa_api.RasaUnavailable:  # its text holds the request URL, token included: not logged
            logger.warning("could not expire handoff %s yet: the assistant's server did not accept it", handoff_id)
            continue
        with db.session_scope(config.database_url) as session:
            row = session.get(handoffs.Handoff, handoff_id)
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
    if "email" in names and os.environ.get("SMTP_USER") and _off(os.environ, "SMTP_STARTTLS") \
            and not _on(os.environ, "SMTP_SSL"):
        logger.error("e-mail notifications will not be sent: SMTP_USER needs TLS (SMTP_SSL=1 or SMTP_STARTTLS on)")
    while True:
        try:
            deliver_due(config.database_url)
            expire_handoffs(config)
        except Exception as exc:  # database briefly unavailable: say so once per round, keep going
            logger.error("outbox round failed: %s", describe(exc))
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
