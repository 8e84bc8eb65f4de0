"""Human handoff on the real Rasa server: pause, staff messages live in the widget and WeChat, resume."""

from __future__ import annotations

import uuid

import pytest
import requests

from bot import db
from bot.store import staff as staff_store
from tests.support.waiting import eventually
from tests.support.wechat import follower, reply_text, signed, text_xml
from tests.support.widget import Visitor


@pytest.fixture(scope="module")
def staff(stack):
    with db.session_scope(stack.database_url) as session:
        token = staff_store.create_token("agent-wang", session=session)

    def call(method, path, **kwargs):
        return requests.request(
            method,
            f"{stack.web_url}/console/api{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
            **kwargs,
        )

    return call


def test_widget_handoff_pauses_the_bot_and_staff_messages_arrive_live(stack, staff):
    visitor = Visitor(stack.rasa_url, stack.web_url)
    try:
        visitor.say("转人工")
        visitor.wait_for("正在为您转接人工顾问")
        queue = staff("GET", "/handoffs").json()["handoffs"]
        assert any(h["conversation_id"] == visitor.session_id and h["channel"] == "socketio" for h in queue)
        assert staff("POST", f"/handoffs/{visitor.session_id}/claim").status_code == 200
        before = len(visitor.received)
        visitor.say("注册资本要多少")  # a human owns the conversation: the bot stays silent

        def transcript() -> list[dict]:
            return staff("GET", f"/handoffs/{visitor.session_id}/messages").json()["messages"]

        # Rasa stores the message once its turn is over: a reply, had there been one, is on its way by then,
        # and the staff message sent next reaches the socket after it (one socket, in order)
        eventually(lambda: any(m["sender"] == "user" and m["text"] == "注册资本要多少" for m in transcript()))
        sent = staff("POST", f"/handoffs/{visitor.session_id}/messages", json={"text": "您好，我是顾问小王"})
        assert sent.status_code == 201
        visitor.wait_for("我是顾问小王")
        assert visitor.received[before:] == ["您好，我是顾问小王"]
        assert any(m["sender"] == "staff" and m["text"] == "您好，我是顾问小王" for m in transcript())
        assert staff("POST", f"/handoffs/{visitor.session_id}/end").status_code == 200
        visitor.wait_for("人工服务已结束")
        visitor.say("年报什么时候截止")
        visitor.wait_for("3月31日")
    finally:
        visitor.close()


def test_wechat_handoff_staff_message_goes_through_the_customer_service_api(stack, staff, fake_wechat):
    openid = follower()
    url = f"{stack.rasa_url}/webhooks/wechat/webhook"
    queued = reply_text(requests.post(url, **signed(text_xml(openid, "转人工")), timeout=30))
    assert "正在为您转接人工顾问" in queued
    assert staff("POST", f"/handoffs/{openid}/claim").status_code == 200
    silent = requests.post(url, **signed(text_xml(openid, "你好？")), timeout=30)
    assert silent.text == "success"
    assert staff("POST", f"/handoffs/{openid}/messages", json={"text": "顾问小李为您服务"}).status_code == 201
    eventually(lambda: any(m["touser"] == openid and "顾问小李" in m["text"]["content"] for m in fake_wechat.sent))
    assert staff("POST", f"/handoffs/{openid}/end").status_code == 200


def test_rest_conversation_is_silent_while_paused(stack):
    sender = f"handoff-{uuid.uuid4().hex}"
    assert "正在为您转接" in stack.text(sender, "人工客服")
    assert stack.say(sender, "有人吗") == []


def test_unclaimed_handoff_offers_the_lead_form(stack):
    visitor = Visitor(stack.rasa_url, stack.web_url)
    try:
        visitor.say("转人工")
        visitor.wait_for("正在为您转接人工顾问")
        visitor.wait_for("顾问们暂时都在忙", timeout=40)  # HANDOFF_CLAIM_TIMEOUT=8 in the test stack
        visitor.wait_for("怎么称呼")
    finally:
        visitor.close()


def test_staff_api_requires_a_token(stack):
    assert requests.get(f"{stack.web_url}/console/api/handoffs", timeout=10).status_code == 401
