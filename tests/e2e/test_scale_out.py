"""Scale-out mode: two complete instances sharing PostgreSQL and Redis (REDIS_URL, DATABASE_URL).

One conversation alternates between the instances turn by turn; every event
must be stored once, in order, and turns sent to both at the same moment
must not interleave (Rasa's Redis lock store serialises them).
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import threading
import uuid

import pytest
import redis
import requests
import sqlalchemy

from bot import widget_session
from tests.support.fake_wecom_kf import visitor
from tests.support.stack import launch, stop, wait_ready
from tests.support.waiting import eventually
from tests.support.wecom_kf import KFChat, text_of
from tests.support.widget import Socket


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake_wechat, fake_wecom_kf, postgres_url, redis_url):
    database_url = postgres_url
    shared = {
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": database_url,
        "REDIS_URL": redis_url,
        "RASA_AUTH_TOKEN": "scale-token-" + secrets.token_hex(8),
        "WECOM_KF_API_BASE": fake_wecom_kf.base,
    }
    a = launch(tmp_path_factory.mktemp("a"), fake_wechat.base, **shared)
    b = None
    engine = sqlalchemy.create_engine(database_url)
    try:
        # let the first instance create the tables, so two processes never race to create them
        def tables_made() -> bool:
            assert a.process.poll() is None, a.log.read_text()[-3000:]
            engine.dispose()
            return {"events", "facts", "leads"} <= set(sqlalchemy.inspect(engine).get_table_names())

        eventually(tables_made, 300, interval=1)
        b = launch(tmp_path_factory.mktemp("b"), fake_wechat.base, **shared)
        wait_ready(a)
        wait_ready(b)
        yield a, b, engine
    finally:
        for instance in (a, b):
            if instance is not None:
                stop(instance)
        engine.dispose()


def stored(engine, sender: str) -> list[tuple[str, float, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT type_name, timestamp, data FROM events WHERE sender_id = :s ORDER BY id"),
            {"s": sender},
        )
        return [tuple(row) for row in rows]


def test_one_conversation_alternating_between_instances(pair):
    a, b, engine = pair
    sender = f"scale-{uuid.uuid4().hex}"
    turns = [
        (a, "帮我看看我们公司能不能办"),
        (b, "我们业务覆盖全国"),
        (a, "内资"),
        (b, "2000万"),
        (a, "没有"),
        (b, "有的"),
    ]
    replies = [instance.text(sender, text) for instance, text in turns]
    assert "覆盖几个省" in replies[0]
    assert "内资、外资" in replies[1]  # b continued the form a started
    assert "注册资本" in replies[2]
    assert "失信名单" in replies[3]
    assert "依据：" in replies[5] and "全网" in replies[5]

    events = stored(engine, sender)
    users = [json.loads(data)["text"] for kind, _, data in events if kind == "user"]
    assert users == [text for _, text in turns]  # each turn once, in order
    assert len(events) == len({(kind, stamp, data) for kind, stamp, data in events})
    stamps = [stamp for _, stamp, _ in events]
    assert stamps == sorted(stamps)
    for instance in (a, b):  # both instances read the same conversation
        tracker = requests.get(
            f"{instance.rasa_url}/conversations/{sender}/tracker", params={"token": instance.token}, timeout=15
        ).json()
        assert [e.get("text") for e in tracker["events"] if e["event"] == "user"] == [t for _, t in turns]


@pytest.mark.parametrize("attempt", range(5))  # a race: several tries (it failed 1 in 3 without the fix)
def test_simultaneous_turns_on_both_instances_do_not_interleave(pair, attempt):
    a, b, engine = pair
    sender = f"race-{uuid.uuid4().hex}"
    a.text(sender, "你好")
    questions = [(a, "注册资本要多少"), (b, "年报什么时候报"), (a, "地网是什么"), (b, "需要哪些材料")]
    answers = {}

    def ask(instance, text):
        answers[text] = instance.text(sender, text)

    threads = [threading.Thread(target=ask, args=question) for question in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(answers.get(text) for _, text in questions), answers
    rows = stored(engine, sender)
    kinds = [kind for kind, _, _ in rows]
    users = [i for i, kind in enumerate(kinds) if kind == "user"]
    assert len(users) == 5, "\n".join(f"{k} {t} {d[:160]}" for k, t, d in rows)
    # a turn ends with the bot listening again before the next visitor message is processed
    for start, end in zip(users, users[1:], strict=False):
        assert "bot" in kinds[start:end] and kinds[end - 1] == "action"


class WidgetVisitor(Socket):
    """A widget visitor connected to one instance, holding a signed session."""

    def __init__(self, instance):
        super().__init__(instance.rasa_url)
        self.session_id = secrets.token_hex(16)
        assert self.request(self.session_id, widget_session.token(instance.env["WIDGET_SECRET"], self.session_id))

    def receives_staff_message_through(self, instance, text: str) -> bool:
        """What staff messages do: an event added through ``instance``'s API, sent on the socket.io channel."""
        response = requests.post(
            f"{instance.rasa_url}/conversations/{self.session_id}/tracker/events",
            params={"token": instance.token, "output_channel": "socketio", "execute_side_effects": "true"},
            json=[{"event": "bot", "text": text}],
            timeout=15,
        )
        assert response.status_code == 200
        return bool(self.wait_for(text, 15))


def test_a_message_for_a_widget_visitor_reaches_them_from_the_other_instance(pair):
    a, b, _ = pair
    visitor = WidgetVisitor(a)
    try:
        assert visitor.receives_staff_message_through(b, "顾问小王：您好")
    finally:
        visitor.close()


class _Exploit:
    """A pickle that creates a directory when unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_cve_2025_61765_a_pickle_on_the_redis_channel_runs_nothing(pair, tmp_path):
    """CVE-2025-61765: python-socketio 5.9's Redis manager unpickled what it read; the instances read JSON only."""
    a, b, _ = pair
    on_a, on_b = WidgetVisitor(a), WidgetVisitor(b)  # each instance now listens on the channel
    try:
        marker = tmp_path / "unpickled-by-rasa"
        receivers = redis.Redis.from_url(a.env["REDIS_URL"]).publish("socketio", pickle.dumps(_Exploit(str(marker))))
        assert receivers == 2
        # both listeners carry on: messages still cross in both directions. They are the probe too: each
        # listener reads the channel in order, so it read the pickle before the message published after it
        assert on_a.receives_staff_message_through(b, "顾问小李：您好")
        assert on_b.receives_staff_message_through(a, "顾问小张：您好")
        assert not marker.exists()
    finally:
        on_a.close()
        on_b.close()


def test_facts_and_leads_live_in_postgresql(pair):
    a, b, engine = pair
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM facts")).scalar() >= 30
    assert "1000万" in b.text(f"pg-{uuid.uuid4().hex}", "注册资本要多少")


def test_wecom_kf_callbacks_to_both_instances_answer_each_message_once(pair, fake_wecom_kf):
    """微信客服 behind two instances: callbacks repeated to both, every message answered once, in order."""
    a, b, _ = pair
    account = fake_wecom_kf.add_account()
    chats = [KFChat(f"{instance.rasa_url}/webhooks/wecom_kf/webhook", fake_wecom_kf, account) for instance in (a, b)]
    users = [visitor() for _ in range(4)]
    questions = ["注册资本要多少", "需要哪些材料", "年报什么时候报"]
    for question in questions:
        for user in users:
            fake_wecom_kf.says(account, user, question)
        token = fake_wecom_kf.sync_token()
        for _ in range(2):
            for chat in chats:
                response = requests.post(chat.webhook, **fake_wecom_kf.callback(account, token=token), timeout=10)
                assert response.text == "success"
    eventually(lambda: all(len(fake_wecom_kf.to(u)) >= len(questions) for u in users), timeout=120)

    def pulls() -> int:
        return sum(1 for call in fake_wecom_kf.sync_calls if call.get("open_kfid") == account)

    before = pulls()
    for chat in chats:  # one more callback to each: whatever either instance still had in hand is done after it
        chat.nudge()
    eventually(lambda: pulls() >= before + 2)
    for user in users:
        answers = [text_of(m) for m in fake_wecom_kf.to(user)]
        assert len(answers) == len(questions)
        assert "100万元" in answers[0] and "年报" in answers[2]
