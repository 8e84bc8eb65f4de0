"""Requests as WeChat sends them to the assistant: signed, encrypted in safe mode, with the test stack's keys."""

from __future__ import annotations

import hashlib
import time
import uuid

import requests
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

# the official account the test stack is configured with (tests/support/stack.py)
WECHAT = {
    "WECHAT_TOKEN": "wechat-test-token",
    "WECHAT_APP_ID": "wx0123456789abcdef",
    "WECHAT_APP_SECRET": "test-secret",
    "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
TOKEN = WECHAT["WECHAT_TOKEN"]
CRYPTO = WeChatCrypto(TOKEN, WECHAT["WECHAT_AES_KEY"], WECHAT["WECHAT_APP_ID"])


def sign(timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()


def params(timestamp: int | None = None, **extra: str) -> dict[str, str]:
    """The query WeChat signs a request with: ``timestamp`` (now by default), a nonce, the signature."""
    stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), uuid.uuid4().hex[:10]
    return {"timestamp": stamp, "nonce": nonce, "signature": sign(stamp, nonce), **extra}


def signed(body: str, timestamp: int | None = None, **extra: str) -> dict:
    """``requests.post`` arguments for ``body`` as WeChat sends it in safe mode: encrypted and signed."""
    query = params(timestamp, encrypt_type="aes", **extra)
    envelope = CRYPTO.encrypt_message(body, query["nonce"], query["timestamp"])
    query["msg_signature"] = parse_message_signature(envelope)["signature"]
    return {"params": query, "data": envelope.encode()}


def xml(openid: str, msg_type: str, body: str, msg_id: int | None = None, create_time: int | None = None) -> str:
    msg_id = msg_id if msg_id is not None else int(uuid.uuid4().int % 10**15)
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}<MsgId>{msg_id}</MsgId></xml>"
    )


def event(openid: str, name: str, key: str = "", create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{name}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def text_xml(openid: str, content: str, **kw: int | None) -> str:
    return xml(openid, "text", f"<Content><![CDATA[{content}]]></Content>", **kw)


def follower() -> str:
    return "o" + uuid.uuid4().hex[:27]


def parse_message_signature(text: str) -> dict:
    """The signature, timestamp and nonce of an encrypted envelope."""
    import xmltodict

    body = xmltodict.parse(text)["xml"]
    return {"signature": body.get("MsgSignature"), "timestamp": body.get("TimeStamp"), "nonce": body.get("Nonce")}


def reply_text(response: requests.Response) -> str:
    """The text of a passive reply (decrypted in safe mode); "" for ``success``."""
    assert response.status_code == 200, response.text
    if response.text == "success":
        return ""
    body = response.text
    if "<Encrypt>" in body:
        envelope = parse_message_signature(body)
        body = CRYPTO.decrypt_message(body, envelope["signature"], envelope["timestamp"], envelope["nonce"])
    return parse_message(body.encode() if isinstance(body, str) else body).content
