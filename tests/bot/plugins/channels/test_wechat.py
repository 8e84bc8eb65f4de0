"""The WeChat channel against the real Rasa server, with requests signed as WeChat signs them."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from wechatpy import parse_message

from tests.support.stack import service_pid
from tests.support.waiting import eventually
from tests.support.wechat import (
    CRYPTO,
    event,
    follower,
    params,
    parse_message_signature,
    reply_text,
    signed,
    text_xml,
    xml,
)


@pytest.fixture
def post(stack):
    url = f"{stack.rasa_url}/webhooks/wechat/webhook"

    def send(body: str, **extra):
        return requests.post(url, **signed(body, **extra), timeout=30)

    return send


def test_server_verification_echoes_echostr(stack):
    url = f"{stack.rasa_url}/webhooks/wechat/webhook"
    ok = requests.get(url, params=params(echostr="12345abc"), timeout=10)
    assert ok.status_code == 200 and ok.text == "12345abc"
    bad = requests.get(url, params={**params(echostr="x"), "signature": "0" * 40}, timeout=10)
    assert bad.status_code == 403


def test_text_message_gets_a_passive_sourced_answer(post):
    text = reply_text(post(text_xml(follower(), "全网和地网有什么区别")))
    assert "工业和信息化部" in text and "依据：" in text


def test_encrypted_message_gets_an_encrypted_answer(stack):
    response = requests.post(
        f"{stack.rasa_url}/webhooks/wechat/webhook", **signed(text_xml(follower(), "注册资本要多少")), timeout=30
    )
    assert response.status_code == 200 and "<Encrypt>" in response.text
    reply = parse_message_signature(response.text)
    plain = CRYPTO.decrypt_message(response.text, reply["signature"], reply["timestamp"], reply["nonce"])
    assert "100万元" in parse_message(plain).content


def test_bad_signature_is_refused(stack):
    request = signed(text_xml(follower(), "你好"))
    response = requests.post(
        f"{stack.rasa_url}/webhooks/wechat/webhook",
        params={**request["params"], "signature": "f" * 40},
        data=request["data"],
        timeout=10,
    )
    assert response.status_code == 403


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol4;</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize(
    "body", ["<xml><unclosed>", "not xml at all", BILLION_LAUGHS, "<xml>" + "a" * 70000 + "</xml>"]
)
def test_malformed_or_hostile_xml_gets_400_and_the_server_stays_up(post, body):
    assert post(body).status_code == 400
    assert "依据：" in reply_text(post(text_xml(follower(), "许可证有效期多久")))


def test_voice_with_recognition_is_answered_as_text(post):
    body = xml(
        follower(),
        "voice",
        "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>"
        "<Recognition><![CDATA[年报什么时候截止]]></Recognition>",
    )
    assert "3月31日" in reply_text(post(body))


@pytest.mark.parametrize(
    "msg_type, body",
    [
        ("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"),
        (
            "location",
            "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale><Label><![CDATA[x]]></Label>",
        ),
        ("link", "<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://x]]></Url>"),
        ("video", "<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
    ],
)
def test_non_text_messages_get_a_please_type_reply(post, msg_type, body):
    assert "请直接输入" in reply_text(post(xml(follower(), msg_type, body)))


def test_subscribe_gets_a_welcome_with_numbered_topics_and_a_number_picks_one(post):
    openid = follower()
    welcome = reply_text(post(event(openid, "subscribe")))
    assert "呼叫中心许可证助手" in welcome and "回复 2：申请条件" in welcome
    assert "依法设立的公司" in reply_text(post(text_xml(openid, "2")))


def test_a_bare_number_with_no_menu_pending_is_not_understood_rather_than_a_goodbye(post):
    openid = follower()
    assert "依据：" in reply_text(post(text_xml(openid, "全网证要多少注册资本")))
    text = reply_text(post(text_xml(openid, "2")))
    assert "没太理解" in text and "再见" not in text


def test_unsubscribe_sends_nothing(post):
    response = post(event(follower(), "unsubscribe"))
    assert response.status_code == 200 and response.text == "success"


def test_menu_click_answers_its_topic(post):
    assert "依法设立的公司" in reply_text(post(event(follower(), "CLICK", "ask_conditions")))


def test_retried_msg_id_is_processed_once_and_answered_identically(stack, post):
    openid = follower()
    body = text_xml(openid, "办理流程是什么", msg_id=880000000000001 + int(time.time()))
    first, second = reply_text(post(body)), reply_text(post(body))
    assert first == second and "实地核查" in first
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{openid}/tracker", params={"token": stack.token}, timeout=10
    ).json()
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [u["text"] for u in users] == ["办理流程是什么"]
    assert users[0]["input_channel"] == "wechat"


def _action_server_pids(stack) -> list[int]:
    return [service_pid(stack, "actions")]


def test_slow_turn_answers_success_then_delivers_through_the_api(stack, post, fake_wechat):
    openid = follower()
    fake_wechat.fail_next_send_with = 40001  # the cached token is refused once: refresh and retry
    tokens_before = fake_wechat.tokens_issued
    pids = _action_server_pids(stack)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # the action server hangs: the turn is slow
    try:
        started = time.monotonic()
        response = post(text_xml(openid, "外资公司能办吗"))
        waited = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert response.text == "success" and waited < 5
    delivered = eventually(lambda: [m for m in fake_wechat.sent if m["touser"] == openid], 60)
    assert "100%" in delivered[0]["text"]["content"]
    assert fake_wechat.tokens_issued > tokens_before
