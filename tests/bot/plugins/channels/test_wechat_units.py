"""WeChat reply rendering and the shared store, without a server."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid

import pytest
from sanic.request import RequestParameters
from wechatpy import parse_message

from bot.plugins.channels.wechat import WeChatInput, render_messages, split_text
from bot.store import wechat as wechat_store


def test_buttons_become_numbered_options():
    text, payloads = render_messages(
        [
            {"text": "您好！"},
            {
                "text": "您是想问……",
                "buttons": [
                    {"title": "申请条件", "payload": "/ask_conditions"},
                    {"title": "材料", "payload": "/ask_materials"},
                ],
            },
        ]
    )
    assert text == "您好！\n\n您是想问……\n\n回复 1：申请条件\n回复 2：材料"
    assert payloads == ["/ask_conditions", "/ask_materials"]


def test_long_replies_split_at_sentence_ends_within_the_limit():
    text = "。".join(["呼叫中心许可证" * 10] * 20) + "。"
    parts = split_text(text, limit=200)
    assert len(parts) > 1 and all(len(p) <= 200 for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("。") for p in parts[:-1])


def test_short_reply_is_one_part():
    assert split_text("有效期5年。") == ["有效期5年。"]
    assert split_text("") == []


def test_claim_is_once_per_key_and_retries_see_the_reply(empty_database):
    url = empty_database
    assert wechat_store.claim(url, "msg:1")
    assert not wechat_store.claim(url, "msg:1")
    wechat_store.finish(url, "msg:1", "答案")
    import asyncio

    assert asyncio.run(wechat_store.wait_reply(url, "msg:1", 1)) == "答案"


def test_choices_are_remembered_per_follower(empty_database):
    url = empty_database
    wechat_store.remember_choices(url, "openid-a", ["/ask_conditions", "/ask_materials"])
    assert wechat_store.choice(url, "openid-a", 2) == "/ask_materials"
    assert wechat_store.choice(url, "openid-a", 3) is None
    assert wechat_store.choice(url, "openid-b", 1) is None


def test_token_storage_expires_before_the_real_expiry(empty_database):
    storage = wechat_store.SqlSessionStorage(empty_database)
    storage.set("app_access_token", "abc", 7200)
    assert storage.get("app_access_token") == "abc"
    storage.set("app_access_token", "old", 100)  # under the refresh margin: treated as expired
    assert storage.get("app_access_token") is None


# ---------- the request pipeline (plaintext mode), driven without a server

TOKEN = "unit-wechat-token"


class FakeRequest:
    """What the channel reads from a Sanic request: the query string and the body."""

    def __init__(self, args: dict, body: bytes = b"") -> None:
        self.args = RequestParameters({k: [v] for k, v in args.items()})
        self.body = body


def signed_args(timestamp: int | None = None, nonce: str | None = None, **extra) -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature, **extra}


def message_xml(openid: str, content: str, msg_id: int = 1234567890123456) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def click_xml(openid: str, key: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    ).encode()


@pytest.fixture
def channel(empty_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    for name in ("WECHAT_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return WeChatInput()


class Bot:
    """Stands in for Rasa: answers each text with 「答：<text>」 and records what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, message) -> None:
        self.seen.append((message.sender_id, message.text))
        await message.output_channel.send_text_message(message.sender_id, f"答：{message.text}")


def answer(response) -> str:
    body = response.body.decode()
    return "" if body == "success" else parse_message(body).content


def test_n02_stale_or_future_timestamps_are_refused(channel):
    """N2, F13: a signed URL is only good for about five minutes, either way."""
    bot = Bot()
    for skew in (-3600, -400, 400, -int(time.time()) + 1000000000):
        request = FakeRequest(signed_args(int(time.time()) + skew), message_xml("oVisitor01", "你好"))
        assert asyncio.run(channel._receive(request, bot)).status == 403
    assert bot.seen == []
    fresh = FakeRequest(signed_args(int(time.time()) - 60), message_xml("oVisitor01", "你好"))
    assert answer(asyncio.run(channel._receive(fresh, bot))) == "答：你好"


def test_n02_a_captured_signed_url_cannot_carry_another_body(channel):
    """N2, F13: the same timestamp and nonce with a different body is a replay: 403, nothing reaches the bot."""
    bot = Bot()
    args = signed_args()
    first = asyncio.run(channel._receive(FakeRequest(args, message_xml("oVictim001", "注册资本", 11)), bot))
    assert answer(first) == "答：注册资本"
    forged = asyncio.run(channel._receive(FakeRequest(args, message_xml("oAttacker01", "/restart", 12)), bot))
    assert forged.status == 403
    assert bot.seen == [("oVictim001", "注册资本")]


def test_n02_wechat_retrying_the_same_request_gets_the_same_answer(channel):
    """N2: WeChat's own retry (same URL, same body) is not a replay; it is answered once, identically."""
    bot = Bot()
    request = FakeRequest(signed_args(), message_xml("oVisitor02", "材料"))
    first, again = (asyncio.run(channel._receive(request, bot)) for _ in range(2))
    assert answer(first) == answer(again) == "答：材料" and len(bot.seen) == 1


def test_n02_reply_cache_is_per_follower(channel):
    """N2: another follower reusing a MsgId gets their own answer, never the first follower's."""
    bot = Bot()
    victim = asyncio.run(
        channel._receive(FakeRequest(signed_args(), message_xml("oVictim002", "我的电话13800001111", 77)), bot)
    )
    attacker = asyncio.run(channel._receive(FakeRequest(signed_args(), message_xml("oAttacker02", "你好", 77)), bot))
    assert answer(victim) == "答：我的电话13800001111"
    assert answer(attacker) == "答：你好"


@pytest.mark.parametrize("key", ["restart", "session_start", "back", "EXTERNAL_handoff_ended"])
def test_n02_menu_keys_pass_the_payload_guard(channel, key):
    """N2, F13: a menu key naming a command Rasa would obey never reaches the bot as a payload."""
    bot = Bot()
    asyncio.run(channel._receive(FakeRequest(signed_args(), click_xml("oVisitor03", key)), bot))
    assert not any(text.startswith("/") and text[1:].startswith(key) for _, text in bot.seen)


def test_n02_menu_key_of_an_offered_topic_still_works(channel):
    """N2: the menu's own keys (intents the assistant offers) still answer their topic."""
    bot = Bot()
    response = asyncio.run(channel._receive(FakeRequest(signed_args(), click_xml("oVisitor04", "ask_conditions")), bot))
    assert bot.seen == [("oVisitor04", "/ask_conditions")] and answer(response) == "答：/ask_conditions"


def _raw(body: str) -> bytes:
    return f"<xml><ToUserName>gh</ToUserName>{body}</xml>".encode()


ODD = {
    "no CreateTime": "<FromUserName>oA1</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
    "CreateTime not a number": "<FromUserName>oA1</FromUserName><CreateTime>soon</CreateTime><MsgType>text</MsgType>"
    "<Content>x</Content>",
    "CreateTime out of range": "<FromUserName>oA1</FromUserName><CreateTime>99999999999999999999</CreateTime>"
    "<MsgType>text</MsgType><Content>x</Content>",
    "event without CreateTime": "<FromUserName>oA1</FromUserName><MsgType>event</MsgType><Event>subscribe</Event>",
    "event with a bad CreateTime": "<FromUserName>oA1</FromUserName><CreateTime>x</CreateTime><MsgType>event</MsgType>"
    "<Event>subscribe</Event>",
    "no FromUserName": "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
    "two FromUserName": "<FromUserName>oA1</FromUserName><FromUserName>oB2</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
    "nested Content": "<FromUserName>oA1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content><a/><b/></Content><MsgId>1</MsgId>",
    "MsgId not a number": "<FromUserName>oA1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>x</Content><MsgId>one</MsgId>",
    "MsgId of 300 digits": "<FromUserName>oA1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    f"<Content>x</Content><MsgId>{'9' * 300}</MsgId>",
    "nested EventKey": "<FromUserName>oA1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>"
    "<Event>CLICK</Event><EventKey><k>ask_fees</k></EventKey>",
    "nested Recognition": "<FromUserName>oA1</FromUserName><CreateTime>1</CreateTime><MsgType>voice</MsgType>"
    "<Recognition><r/></Recognition><MsgId>1</MsgId>",
    "nested FromUserName": "<FromUserName><o>x</o></FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>x</Content>",
    "5000-character OpenID": f"<FromUserName>o{'x' * 5000}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
    "OpenID with markup": "<FromUserName>o A&lt;b&gt;</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>x</Content><MsgId>1</MsgId>",
}


@pytest.mark.parametrize("name", ODD)
def test_n02_well_formed_but_wrong_messages_get_400(channel, name):
    """N2, N8: odd but well-formed XML (missing, invalid, duplicated or nested fields, huge OpenIDs) is a 400."""
    bot = Bot()
    response = asyncio.run(channel._receive(FakeRequest(signed_args(), _raw(ODD[name])), bot))
    assert response.status == 400 and bot.seen == []


def test_f18_wechat_send_failures_log_no_secret(channel, monkeypatch, caplog):
    """F18: a failing API call is logged by type, never with its URL (access token, app secret)."""
    monkeypatch.setattr(channel, "app_id", "wx0123456789abcdef")
    monkeypatch.setattr(channel, "app_secret", "APP-SECRET-must-not-leak")
    monkeypatch.setattr(channel, "api_base", "http://127.0.0.1:9/cgi-bin/")  # nothing listens: ConnectionError

    async def no_wait(_):
        return None

    monkeypatch.setattr("bot.plugins.channels.wechat.asyncio.sleep", no_wait)
    with caplog.at_level(logging.INFO):
        asyncio.run(channel._deliver_later("oVisitor05", ["答案"]))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "WeChat send to" in logged and "retry in" in logged and "ConnectionError" in logged
    assert "APP-SECRET" not in logged and "secret=" not in logged and "/cgi-bin/token" not in logged


def test_seen_requests_are_shared_and_forgotten_after_the_window(empty_database):
    url = empty_database
    assert wechat_store.admit(url, "1700000000", "n1", "a" * 64)
    assert wechat_store.admit(url, "1700000000", "n1", "a" * 64)  # the same request again: a retry
    assert not wechat_store.admit(url, "1700000000", "n1", "b" * 64)
    assert wechat_store.admit(url, "1700000000", "n2", "b" * 64)
