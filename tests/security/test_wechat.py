"""N2, F13: the WeChat channel against the running stack (safe mode: WECHAT_AES_KEY is set)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.wechat import event, follower, params, reply_text, signed, text_xml, xml


@pytest.fixture
def url(stack) -> str:
    return f"{stack.rasa_url}/webhooks/wechat/webhook"


def tracker(stack, openid: str) -> dict:
    return requests.get(
        f"{stack.rasa_url}/conversations/{openid}/tracker", params={"token": stack.token}, timeout=10
    ).json()


@pytest.mark.parametrize("timestamp", [1000000000, int(time.time()) - 3600, int(time.time()) + 3600])
def test_n02_old_signed_request_is_refused(stack, url, timestamp):
    """N2, F13: a correctly signed and encrypted request from 2001, an hour ago or an hour ahead gets 403."""
    openid = follower()
    response = requests.post(url, **signed(text_xml(openid, "注册资本要多少"), timestamp), timeout=30)
    assert response.status_code == 403
    assert not any(e["event"] == "user" for e in tracker(stack, openid)["events"] or [])


def test_f13_plaintext_is_refused_in_safe_mode(stack, url):
    """F13: with WECHAT_AES_KEY set, a signed plaintext message (no encrypt_type=aes) is not accepted."""
    openid = follower()
    response = requests.post(url, params=params(), data=text_xml(openid, "注册资本要多少").encode(), timeout=30)
    assert response.status_code == 403
    response = requests.post(
        url, params=params(encrypt_type="aes"), data=text_xml(openid, "你好").encode(), timeout=30
    )  # says aes, carries no msg_signature
    assert response.status_code in (400, 403)
    assert not any(e["event"] == "user" for e in tracker(stack, openid)["events"] or [])


def test_n02_identical_retry_is_answered_once_and_the_same(stack, url):
    """N2: WeChat re-sending the very same request (same URL and body) still gets the first answer."""
    openid = follower()
    request = signed(text_xml(openid, "办理流程是什么"))
    first = reply_text(requests.post(url, **request, timeout=30))
    again = reply_text(requests.post(url, **request, timeout=30))
    assert first == again and "实地核查" in first
    assert [e["text"] for e in tracker(stack, openid)["events"] if e["event"] == "user"] == ["办理流程是什么"]


def test_n02_another_follower_never_gets_someone_elses_reply(url):
    """N2: reusing a victim's MsgId from another OpenID gets the attacker's own answer."""
    msg_id = 7770001112223334 + int(time.time())
    victim = reply_text(requests.post(url, **signed(text_xml(follower(), "需要哪些材料", msg_id=msg_id)), timeout=30))
    attacker = reply_text(requests.post(url, **signed(text_xml(follower(), "你好", msg_id=msg_id)), timeout=30))
    assert "材料" in victim
    assert attacker and attacker != victim and "依据" not in attacker


@pytest.mark.parametrize("key", ["restart", "session_start", "back"])
def test_n02_menu_key_cannot_run_a_command(stack, url, key):
    """N2, F13: a CLICK with EventKey `restart`/`session_start`/`back` does not run it; the conversation keeps state."""
    openid = follower()
    reply_text(requests.post(url, **signed(text_xml(openid, "我在广东办地网找谁")), timeout=30))
    before = tracker(stack, openid)
    assert before["slots"].get("province")
    response = requests.post(url, **signed(event(openid, "CLICK", key)), timeout=30)
    assert response.status_code == 200
    after = tracker(stack, openid)
    new = after["events"][len(before["events"]) :]
    assert not any(e["event"] in ("restart", "session_started") for e in new)
    assert not any(e.get("name") in ("action_restart", "action_session_start", "action_back") for e in new)
    assert after["slots"].get("province") == before["slots"]["province"]


def test_n02_menu_key_of_a_topic_still_answers(url):
    """N2: the menu's own keys keep working."""
    assert "依法设立的公司" in reply_text(
        requests.post(url, **signed(event(follower(), "CLICK", "ask_conditions")), timeout=30)
    )


WELL_FORMED_BUT_WRONG = {
    "no CreateTime": (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA1</FromUserName><MsgType>event</MsgType>"
        "<Event>subscribe</Event></xml>"
    ),
    "CreateTime not a number": (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA1</FromUserName>"
        "<CreateTime>soon</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"
    ),
    "no FromUserName": (
        "<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
        "<Content>x</Content><MsgId>1</MsgId></xml>"
    ),
    "two FromUserName": (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA1</FromUserName>"
        "<FromUserName>oB2</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
        "<Content>x</Content><MsgId>1</MsgId></xml>"
    ),
    "nested Content": (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA1</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content><a/><b/></Content><MsgId>1</MsgId></xml>"
    ),
    "5000-character OpenID": xml("o" + "x" * 5000, "text", "<Content>你好</Content>"),
}


@pytest.mark.parametrize("name", WELL_FORMED_BUT_WRONG)
def test_n02_odd_messages_get_400_not_500(url, name):
    """N2, N8: well-formed XML with missing, invalid, duplicated or nested fields gets a 400."""
    response = requests.post(url, **signed(WELL_FORMED_BUT_WRONG[name]), timeout=30)
    assert response.status_code == 400, name
    assert "Traceback" not in response.text and "Error" not in response.text
