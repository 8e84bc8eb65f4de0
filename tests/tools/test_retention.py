"""The retention command purges old conversations and keeps leads."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from bench.console_list import generate
from bot import db, migrate
from bot.store import conversations, leads, summaries
from tools import retention


def test_old_conversations_go_and_leads_stay(tmp_path):
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(app)
    generate(tracker, 3)  # three conversations within the last 30 days
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker))
    old = time.time() - 400 * 86400
    with db.get_engine(tracker).begin() as connection:
        connection.execute(
            events.insert(),
            [
                {
                    "sender_id": "ancient",
                    "type_name": "user",
                    "timestamp": old,
                    "data": json.dumps({"event": "user", "text": "很久以前"}),
                }
            ],
        )
    summaries.refresh(tracker, app)
    with db.session_scope(app) as session:
        leads.save_lead(
            {
                "conversation_id": "ancient",
                "channel": "rest",
                "name": "老客户",
                "phone": "13800000000",
                "consent": True,
            },
            session=session,
        )
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


def test_i07_collected_examples_and_wechat_state_go_with_the_conversation(tmp_path):
    """I7: visitor text kept for training and the WeChat options/dedupe rows are purged with their conversation."""
    import datetime as dt

    from bot.store import wechat as wechat_store

    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
    generate(tracker, 1)
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker))
    old = time.time() - 400 * 86400
    with db.get_engine(tracker).begin() as connection:
        connection.execute(
            events.insert(),
            [
                {
                    "sender_id": sender,
                    "type_name": "user",
                    "timestamp": old,
                    "data": json.dumps({"event": "user", "text": "我的电话13800001111"}),
                }
                for sender in ("oOldFollower1", "old-widget")
            ],
        )
    migrate.upgrade(app)
    with db.session_scope(app) as session:
        for sender in ("oOldFollower1", "old-widget", "recent"):
            session.add(
                conversations.CollectedExample(
                    text="我的电话13800001111", intent="inform", conversation_id=sender, collected_by="admin"
                )
            )
        leads.save_lead(
            {
                "conversation_id": "oOldFollower1",
                "channel": "wechat",
                "name": "老客户",
                "phone": "13800001111",
                "consent": True,
            },
            session=session,
        )
    wechat_store.remember_choices(app, "oOldFollower1", ["/ask_fees"])
    wechat_store.remember_choices(app, "recent", ["/ask_fees"])
    assert wechat_store.claim(app, "msg:oOldFollower1:1")
    with db.session_scope(app) as session:
        session.get(wechat_store.ProcessedMessage, "msg:oOldFollower1:1").created_at -= dt.timedelta(days=400)
    assert retention.purge(tracker, app, days=365) == 2
    with db.session_scope(app) as session:
        kept = {e.conversation_id for e in session.query(conversations.CollectedExample)}
        assert kept == {"recent"}
        assert session.query(wechat_store.ProcessedMessage).count() == 0
        assert session.query(leads.Lead).count() == 1  # leads stay
    assert wechat_store.choice(app, "oOldFollower1", 1) is None
    assert wechat_store.choice(app, "recent", 1) == "/ask_fees"


def test_wecom_kf_visitors_and_their_undelivered_messages_go_with_the_conversation(tmp_path):
    """A KF visitor's scene, state, offered options and undelivered texts are purged with the conversation."""
    from bot.store import wechat as wechat_store
    from bot.store import wecom_kf

    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
    generate(tracker, 1)
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker))
    with db.get_engine(tracker).begin() as connection:
        connection.execute(
            events.insert(),
            [
                {
                    "sender_id": "wmOldKfVisitor",
                    "type_name": "user",
                    "timestamp": time.time() - 400 * 86400,
                    "data": json.dumps({"event": "user", "text": "我的电话13800001111"}),
                }
            ],
        )
    migrate.upgrade(app)
    for visitor in ("wmOldKfVisitor", "wmRecentVisitor"):
        wecom_kf.entered(app, visitor, "wk1", "baidu_ad", "kw=x")
        wecom_kf.problem(app, visitor, "wk1", "held", "已达5条或48小时限制，回答未发送", None, "电话13800001111")
        wechat_store.remember_choices(app, f"kf:{visitor}", ["/ask_fees"])
    assert retention.purge(tracker, app, days=365) == 1
    assert wecom_kf.visitor(app, "wmOldKfVisitor") is None and wecom_kf.problems(app, "wmOldKfVisitor") == []
    assert wechat_store.choice(app, "kf:wmOldKfVisitor", 1) is None
    assert wecom_kf.visitor(app, "wmRecentVisitor") and wechat_store.choice(app, "kf:wmRecentVisitor", 1)
