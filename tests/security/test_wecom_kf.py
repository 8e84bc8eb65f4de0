"""微信客服's callback URL (/webhooks/wecom_kf/webhook) under attack: forged, replayed, stale, oversized and
malformed requests are refused cleanly, never pull, never answer; nothing of WeCom's shows in responses."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.fake_wecom_kf import signed_echo, signed_envelope, visitor
from tests.support.waiting import eventually
from tests.support.wecom_kf import KFChat


@pytest.fixture
def url(stack) -> str:
    return f"{stack.rasa_url}/webhooks/wecom_kf/webhook"


@pytest.fixture
def chat(url, fake_wecom_kf):
    return KFChat(url, fake_wecom_kf, fake_wecom_kf.add_account())


def pulls(fake, account: str) -> int:
    return sum(1 for call in fake.sync_calls if call.get("open_kfid") == account)


def test_the_url_check_echoes_only_for_a_valid_fresh_signature(url):
    """WeCom's GET check: the decrypted echostr; a wrong or old signature gets 403."""
    ok = requests.get(url, params=signed_echo("1234567890abc"), timeout=10)
    assert (ok.status_code, ok.text) == (200, "1234567890abc")
    assert requests.get(url, params={**signed_echo("x"), "msg_signature": "0" * 40}, timeout=10).status_code == 403
    stale = requests.get(url, params=signed_echo("x", timestamp=int(time.time()) - 3600), timeout=10)
    assert stale.status_code == 403


def test_a_forged_signature_is_refused_and_nothing_is_pulled(url, chat, fake_wecom_kf):
    request = fake_wecom_kf.callback(chat.account)
    forged = requests.post(url, params={**request["params"], "msg_signature": "f" * 40}, data=request["data"])
    assert forged.status_code == 403
    assert pulls(fake_wecom_kf, chat.account) == 0


@pytest.mark.parametrize("age", [3600, -3600, 10**9])
def test_an_old_or_future_callback_is_refused(url, chat, fake_wecom_kf, age):
    """A correctly signed and encrypted callback from an hour ago, an hour ahead or 1990 gets 403."""
    response = requests.post(url, **fake_wecom_kf.callback(chat.account, timestamp=int(time.time()) - age))
    assert response.status_code == 403
    assert pulls(fake_wecom_kf, chat.account) == 0


def test_a_replayed_timestamp_and_nonce_cannot_carry_another_body(url, chat, fake_wecom_kf):
    """The same request again is WeCom retrying (answered, never twice); its URL with another body is refused."""
    fake_wecom_kf.says(chat.account, chat.user, "注册资本要多少")
    request = fake_wecom_kf.callback(chat.account)
    for _ in range(3):
        assert requests.post(url, **request, timeout=10).text == "success"
    eventually(chat.received)
    other = fake_wecom_kf.callback(visitor())
    swapped = requests.post(url, params=request["params"], data=other["data"], timeout=10)
    assert swapped.status_code == 403
    fake_wecom_kf.says(chat.account, chat.user, "需要哪些材料")
    chat.nudge()
    eventually(lambda: len(chat.received()) == 2)
    assert len(chat.received()) == 2  # one answer per message, however often the callback came


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Encrypt>&lol3;</Encrypt></xml>"""


@pytest.mark.parametrize(
    "body", ["<xml><unclosed>", "not xml at all", BILLION_LAUGHS, "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>"]
)
def test_malformed_bodies_get_400_or_403_not_500(url, body):
    """Broken XML, entity bombs and two ciphertexts are refused before any decryption; no traceback leaks."""
    stamp = str(int(time.time()))
    response = requests.post(
        url, params={"msg_signature": "0" * 40, "timestamp": stamp, "nonce": "n1"}, data=body.encode(), timeout=10
    )
    assert response.status_code in (400, 403)
    assert "Traceback" not in response.text and "Error" not in response.text


def test_an_oversized_body_is_refused(url):
    response = requests.post(url, params={"timestamp": "1", "nonce": "n"}, data=b"<xml>" + b"a" * 70000, timeout=10)
    assert response.status_code == 413


INSIDE = {
    "nested field": "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><OpenKfId><a/></OpenKfId></xml>",
    "repeated field": (
        "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><OpenKfId>wk1</OpenKfId>"
        "<OpenKfId>wk2</OpenKfId></xml>"
    ),
    "bad open_kfid": "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><OpenKfId>../x y</OpenKfId></xml>",
    "5000-byte token": (
        "<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><OpenKfId>wk1</OpenKfId>"
        f"<Token>{'T' * 5000}</Token></xml>"
    ),
    "not xml inside": "this decrypts, but is no XML",
}


@pytest.mark.parametrize("name", INSIDE)
def test_well_signed_but_malformed_messages_get_400(url, name):
    response = requests.post(url, **signed_envelope(INSIDE[name]), timeout=10)
    assert response.status_code == 400, name
    assert "Traceback" not in response.text


def test_wecoms_error_text_never_reaches_a_response_or_the_log(stack, chat, fake_wecom_kf):
    """95xxx and token refusals carry WeCom's errmsg (here with a URL and a token): only codes are kept."""
    fake_wecom_kf.refuse_next_token_with = 40014
    fake_wecom_kf.says(chat.account, chat.user, "注册资本要多少")
    chat.nudge()
    eventually(chat.received)
    log = stack.log.read_text(errors="replace")
    assert "secret leak" not in log and "devtool/query" not in log and "access_token=" not in log
