"""The retention command purges old conversations and keeps leads."""
from __future__ import annotations

import json
import time

import sqlalchemy as sa

from bot import conversations, db, leads, migrate, retention
from bench.console_list import generate


def test_old_conversations_go_and_leads_stay(tmp_path):
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(app)
    generate(tracker, 3)  # three conversations within the last 30 days
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker))
    old = time.time() - 400 * 86400
    with db.get_engine(tracker).begin() as connection:
        connection.execute(events.insert(), [{"sender_id": "ancient", "type_name": "user", "timestamp": old,
                                              "data": json.dumps({"event": "user", "text": "很久以前"})}])
    conversations.refresh(tracker, app)
    with db.session_scope(app) as session:
        leads.save_lead({"conversation_id": "ancient", "channel": "rest", "name": "老客户",
                         "phone": "13800000000", "consent": True}, [], session=session)
    assert retention.purge(tracker, app, days=365, dry_run=True) == 1
    assert retention.purge(tracker, app, days=365) == 1
    with db.get_engine(tracker).connect() as connection:
        senders = {r.sender_id for r in connection.execute(sa.select(events.c.sender_id).distinct())}
    assert "ancient" not in senders and len(senders) == 3
    with db.session_scope(app) as session:
        assert session.get(conversations.ConversationSummary, "ancient") is None
        assert session.query(leads.Lead).filter_by(conversation_id="ancient").count() == 1


def test_days_must_be_positive(capsys):
    assert retention.main(["--days", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
