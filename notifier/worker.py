"""Deliver queued lead notifications (the outbox) to staff, expire unclaimed handoffs, fold conversation summaries.

Usage: ``python -m notifier.worker`` (``python -m services.serve notifier``; started by
``make run``), ``--once`` to do one round and exit. This process alone decides
the channels (settings: WECOM_WEBHOOK_URL, NOTIFY_WEBHOOK_URL, SMTP_*,
NOTIFY_EMAIL_TO; docs/settings.md): the action server only queues "this lead
must be notified". E-mail always goes over verified TLS (STARTTLS by default,
SMTP_SSL=1 for TLS from the first byte, SMTP_CA_FILE for a private CA);
cleartext only to a local relay without a login. Every notification links to
the lead in the console (CONSOLE_PUBLIC_URL) instead of naming the conversation.

Outbox rows and log lines keep an error's type and status code only: URLs
(robot keys, tokens) and servers' error text never reach them.

A row is leased before delivery; each channel that took it is recorded, so a
retry sends only to the channels that failed, with the same idempotency key
(receivers can drop a repeat after a worker died mid-way). Failures are retried
with exponential back-off; rows never disappear.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage
from typing import Callable, Dict, Optional

import requests
from sqlalchemy import or_, select

from bot import db, rasa_api, settings
from bot.store import handoffs, leads, summaries

logger = logging.getLogger("notifier.worker")
LEASE = dt.timedelta(seconds=60)
MAX_BACKOFF = 3600


class NotifierError(Exception):
    """A refusal whose text we wrote ourselves (safe to store and log)."""


def console_link(lead: leads.Lead, config: settings.Settings) -> str:
    """The lead's page in the staff console (staff log in there; the link alone opens nothing)."""
    return f"{config.console_public_url}/console/leads/{lead.id}"


def describe(exc: BaseException) -> str:
    """What the outbox and the log keep of a failure: its type and status code, never its text."""
    if isinstance(exc, NotifierError):
        return f"{type(exc).__name__}: {exc}"
    status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def summary(lead: leads.Lead, event: str, config: settings.Settings) -> str:
    verb = "新线索" if event == "lead_created" else "线索更新"
    lines = [
        f"{verb}：{lead.name} {lead.phone}",
        f"公司：{lead.company or '未填写'}　地区：{lead.region or '未填写'}　意向：{lead.licence or '不确定'}",
    ]
    if lead.duplicate_of:
        lines.append(f"注意：此号码已有线索 #{lead.duplicate_of}，可能重复或被他人冒填，请核实")
    if lead.topics:
        lines.append("咨询：" + "、".join(lead.topics))
    if lead.eligibility:
        lines.append("预审：" + lead.eligibility)
    if lead.visitor_note:
        lines.append("客户补充：" + lead.visitor_note)
    lines.append(f"渠道：{lead.channel}　详情：{console_link(lead, config)}")
    return "\n".join(lines)


def send_wecom(row: leads.Notification, config: settings.Settings) -> None:
    response = requests.post(
        config.notifiers.wecom_webhook_url,
        timeout=10,
        json={"msgtype": "text", "text": {"content": summary(row.lead, row.event, config)}},
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errcode", 0) != 0:  # errmsg can echo the request: keep the code only
        raise NotifierError(f"WeCom errcode {int(body.get('errcode') or -1)}")


def send_webhook(row: leads.Notification, config: settings.Settings) -> None:
    lead = {k: v for k, v in row.lead.as_dict(mask=False).items() if k != "conversation_id"}
    response = requests.post(
        config.notifiers.webhook_url,
        timeout=10,
        headers={"Idempotency-Key": row.idempotency_key},
        json={
            "event": row.event,
            "idempotency_key": row.idempotency_key,
            "lead": {**lead, "console_url": console_link(row.lead, config)},
            "text": summary(row.lead, row.event, config),
        },
    )
    response.raise_for_status()


def send_email(row: leads.Notification, config: settings.Settings) -> None:
    """Send over TLS that verifies the server's certificate and name; cleartext only to a relay without login."""
    mail = config.notifiers
    message = EmailMessage()
    message["Subject"] = f"【呼叫中心许可证】{'新线索' if row.event == 'lead_created' else '线索更新'}：{row.lead.name}"
    message["From"] = mail.smtp_from
    message["To"] = mail.email_to
    message["Message-ID"] = f"<{row.idempotency_key}@callcentre-licence-assistant>"
    message.set_content(summary(row.lead, row.event, config))
    context = ssl.create_default_context(cafile=mail.smtp_ca_file or None)
    port = mail.smtp_port or (465 if mail.smtp_ssl else 25)
    smtp: smtplib.SMTP  # SMTP_SSL is an SMTP whose socket is TLS from the first byte
    if mail.smtp_ssl:
        smtp = smtplib.SMTP_SSL(mail.smtp_host, port, timeout=10, context=context)
    else:
        smtp = smtplib.SMTP(mail.smtp_host, port, timeout=10)
    with smtp:
        if mail.smtp_starttls and not mail.smtp_ssl:
            smtp.starttls(context=context)
        if mail.smtp_user:
            smtp.login(mail.smtp_user, mail.smtp_password)
        smtp.send_message(message)


SENDERS: Dict[str, Callable[[leads.Notification, settings.Settings], None]] = {
    "wecom": send_wecom,
    "email": send_email,
    "webhook": send_webhook,
}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF))


def deliver_due(config: settings.Settings, batch: int = 20) -> int:
    """Deliver the due rows once, on every channel each still needs; return how many rows were completed."""
    now = leads.utcnow()
    with db.session_scope(config.database_url) as session:
        rows = (
            session.execute(
                select(leads.Notification)
                .where(
                    leads.Notification.delivered_at.is_(None),
                    leads.Notification.next_attempt_at <= now,
                    or_(leads.Notification.locked_until.is_(None), leads.Notification.locked_until < now),
                )
                .order_by(leads.Notification.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.locked_until = now + LEASE
        ids = [row.id for row in rows]
    return sum(_deliver(row_id, config) for row_id in ids)


def _deliver(row_id: int, config: settings.Settings) -> bool:
    with db.session_scope(config.database_url) as session:
        row = session.get(leads.Notification, row_id)
        lead = row.lead  # loaded now: the senders use it after this unit of work
    channels = config.notifiers.channels if row.notifier == leads.ALL_CHANNELS else [row.notifier]
    done, failures = list(row.delivered_to or []), []
    for channel in (c for c in channels if c not in done):
        try:
            sender = SENDERS.get(channel)
            if sender is None:
                raise NotifierError(f"unknown notifier {channel!r}")
            sender(row, config)
        except Exception as exc:  # any failure: keep the row, try this channel later
            failures.append(f"{channel}: {describe(exc)}")
            continue
        done.append(channel)
        # recorded at once: a worker killed before the row is finished never sends here twice
        with db.session_scope(config.database_url) as session:
            session.get(leads.Notification, row_id).delivered_to = list(done)
    phone = leads.mask_phone(lead.phone)
    with db.session_scope(config.database_url) as session:
        row = session.get(leads.Notification, row_id)
        row.attempts, row.locked_until = row.attempts + 1, None
        if failures:
            row.last_error = "; ".join(failures)[:1000]
            row.next_attempt_at = leads.utcnow() + backoff(row.attempts)
            logger.warning(
                "notification %s (lead %s, %s) failed, attempt %s: %s",
                row.id,
                row.lead_id,
                phone,
                row.attempts,
                row.last_error,
            )
            return False
        row.delivered_at, row.last_error = leads.utcnow(), None
    if channels:
        logger.info("notification %s delivered for lead %s (%s): %s", row_id, row.lead_id, phone, ", ".join(done))
    else:
        logger.info("lead %s (%s) stored; no notifier configured", row.lead_id, phone)
    return True


def expire_handoffs(config: settings.Settings) -> int:
    """Give unclaimed handoffs back to the bot, which offers the lead form instead."""
    timeout = dt.timedelta(seconds=config.handoff_claim_timeout)
    with db.session_scope(config.database_url) as session:
        expired = [(h.id, h.conversation_id, h.channel) for h in handoffs.expired_handoffs(timeout, session=session)]
    done = 0
    for handoff_id, conversation_id, channel in expired:
        if not rasa_api.addressable(conversation_id):
            # nothing can be sent to it (no channel accepts such an id now): it must not hold a place for ever
            _mark_expired(config, handoff_id)
            done += 1
            logger.info("handoff %s names no conversation the assistant can address: expired", handoff_id)
            continue
        try:
            rasa_api.append_events(conversation_id, rasa_api.RESUME, config)
            rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_timeout", config, output_channel=channel)
        except rasa_api.RasaUnavailable:  # its text holds the request URL, token included: not logged
            logger.warning("could not expire handoff %s yet: the assistant's server did not accept it", handoff_id)
            continue
        _mark_expired(config, handoff_id)
        done += 1
        logger.info("handoff %s was not claimed in time: lead form offered", handoff_id)
    return done


def _mark_expired(config: settings.Settings, handoff_id: int) -> None:
    with db.session_scope(config.database_url) as session:
        row = session.get(handoffs.Handoff, handoff_id)
        row.status, row.ended_at = "expired", leads.utcnow()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="do one round, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = settings.current()
    except settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info(
        "notifiers: %s", ", ".join(config.notifiers.channels) or "none configured (leads are stored and listed only)"
    )
    while True:
        try:
            deliver_due(config)
            expire_handoffs(config)
            # the console's conversation summaries, folded here rather than in page loads
            summaries.refresh(config.tracker_store_url, config.database_url, max_batches=4)
        except Exception as exc:  # database briefly unavailable: say so once per round, keep going
            logger.error("round failed: %s", describe(exc))
        if args.once:
            return 0
        time.sleep(config.notifiers.interval)


if __name__ == "__main__":
    sys.exit(main())
