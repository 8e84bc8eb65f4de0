"""Garbage and attacks on every public entrance of the running stack: polite answers, no crash, nothing lost."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot import widget_session
from bot.plugins.channels.guard import BAD_REQUEST, EMPTY, TOO_FAST
from tests.support.wechat import reply_text, signed, text_xml
from tests.support.widget import Socket

XSS = '<img src=x onerror="alert(1)"><script>alert(document.cookie)</script>'


def visitor() -> str:
    return f"bad-{uuid.uuid4().hex}"


def rest(stack, body, raw: bytes | None = None, headers=None) -> requests.Response:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    if raw is not None:
        return requests.post(url, data=raw, headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)
    return requests.post(url, json=body, headers=headers, timeout=30)


def events(stack, sender: str) -> list[dict]:
    response = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=15
    )
    response.raise_for_status()
    return response.json()["events"]


def assert_alive(stack):
    assert "1000万" in stack.text(visitor(), "注册资本要多少")


@pytest.fixture(scope="module")
def witness(stack):
    """A conversation stored before the attacks; it must be intact after them."""
    sender = visitor()
    stack.say(sender, "全网和地网有什么区别")
    before = events(stack, sender)
    yield sender, before
    after = events(stack, sender)
    assert after[: len(before)] == before


@pytest.mark.parametrize("message, expected", [("", EMPTY), ("   \n\t ", EMPTY)])
def test_empty_messages_get_a_prompt_and_are_not_stored(stack, witness, message, expected):
    sender = visitor()
    response = rest(stack, {"sender": sender, "message": message})
    assert response.status_code == 200 and response.json()[0]["text"] == expected
    assert not [e for e in events(stack, sender) if e["event"] == "user"]


def test_a_100_kb_message_is_refused_politely(stack, witness):
    sender = visitor()
    response = rest(stack, {"sender": sender, "message": "呼" * 34_000})  # 100 KB of UTF-8
    assert response.status_code == 200
    assert "34000 字" in response.json()[0]["text"] and "1000 字的上限" in response.json()[0]["text"]
    assert not [e for e in events(stack, sender) if e["event"] == "user"]
    huge = rest(stack, {"sender": sender, "message": "x" * 300_000})
    assert huge.status_code == 413 and "KB" in huge.json()["error"]


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"\xff\xfe{not utf-8", "UTF-8"),
        (b'{"sender": ', "JSON"),
        (b"[1, 2, 3]", "object"),
        (b'"just a string"', "object"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),  # 200 KB of nesting: refused, not a RecursionError
        (b"[" * 300_000, "KB"),
        (json.dumps({"sender": "a", "message": 42}).encode(), "message"),
        (json.dumps({"sender": "a", "message": ["问题"]}).encode(), "message"),
        (json.dumps({"sender": "a", "message": None}).encode(), "message"),
        (json.dumps({"sender": {"$ne": 1}, "message": "你好"}).encode(), "sender"),
        (json.dumps({"sender": True, "message": "你好"}).encode(), "sender"),
        (json.dumps({"sender": "s" * 500, "message": "你好"}).encode(), "sender"),
        (json.dumps({"sender": "a", "message": "你好", "metadata": [1]}).encode(), "metadata"),
    ],
    ids=[
        "invalid-utf8",
        "truncated",
        "array",
        "string",
        "deep-nesting",
        "over-256-kb",
        "number-message",
        "list-message",
        "null-message",
        "object-sender",
        "bool-sender",
        "long-sender",
        "list-metadata",
    ],
)
def test_malformed_rest_bodies_get_a_clear_400(stack, witness, raw, fragment):
    response = rest(stack, None, raw=raw)
    assert response.status_code in (400, 413)
    assert fragment in response.json()["error"]


@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_gets_a_normal_answer(stack, text):
    response = rest(stack, {"sender": visitor(), "message": text})
    assert response.status_code == 200
    replies = response.json()
    assert replies and all(isinstance(r.get("text", ""), str) for r in replies)
    assert not any("Traceback" in (r.get("text") or "") for r in replies)


@pytest.mark.parametrize(
    "payload",
    [
        "/EXTERNAL_handoff_ended",
        "/restart",
        "/ask_fees@0.05",
        '/inform{"lead_phone": "13800138000", "lead_name": "x"}',
    ],
)
def test_intent_injection_on_public_channels_is_read_as_text(stack, witness, payload):
    sender = visitor()
    replies = rest(stack, {"sender": sender, "message": payload}).json()
    assert replies
    user = [e for e in events(stack, sender) if e["event"] == "user"][-1]
    assert user["text"] == "／" + payload[1:]
    assert user["parse_data"]["intent"]["name"] not in ("EXTERNAL_handoff_ended", "restart")
    assert user["parse_data"]["intent"].get("confidence") != 0.05
    slots = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=15
    ).json()["slots"]
    assert slots.get("lead_phone") is None


def test_button_payloads_still_work(stack):
    assert "1000万" in stack.text(visitor(), "/ask_capital")


def test_control_characters_are_answered_and_stored_verbatim(stack, witness):
    sender = visitor()
    message = "注册\x00资本\x1b[31m要多少\u202e\u200b"
    replies = rest(stack, {"sender": sender, "message": message}).json()
    assert replies and "1000万" in replies[0]["text"]
    assert [e for e in events(stack, sender) if e["event"] == "user"][0]["text"] == message


def test_markup_is_answered_as_text_and_stored_verbatim(stack, witness):
    sender = visitor()
    replies = rest(stack, {"sender": sender, "message": XSS}).json()
    assert replies and all("<script>" not in (r.get("text") or "") for r in replies)
    assert [e for e in events(stack, sender) if e["event"] == "user"][0]["text"] == XSS


def test_one_sender_is_slowed_down_with_a_clear_message(stack, witness):
    sender = visitor()
    answers = [rest(stack, {"sender": sender, "message": f"第{i}个问题：地网是什么"}).json() for i in range(21)]
    assert answers[-1] == [{"recipient_id": sender, "text": TOO_FAST}]
    assert all(a[0]["text"] != TOO_FAST for a in answers[:20])
    assert_alive(stack)  # other visitors are not affected


def test_the_token_holder_is_not_rate_limited(stack):
    sender = visitor()
    for _ in range(22):
        replies = stack.say(sender, "/ask_capital", trusted=True)
    assert "1000万" in replies[0]["text"]


@pytest.mark.parametrize(
    "data",
    [
        "not an object",
        42,
        None,
        ["list"],
        {"message": "你好", "session_id": {"$gt": ""}},
        {"message": "你好"},
        {"message": "你好", "session_id": "s" * 1000},
    ],
)
def test_malformed_socket_messages_get_a_polite_answer(stack, witness, data):
    sock = Socket(stack.rasa_url)
    try:
        sock.client.emit("user_uttered", data)
        assert sock.wait_for(BAD_REQUEST)
    finally:
        sock.client.disconnect()


def test_socket_garbage_then_a_real_question(stack, witness):
    sock = Socket(stack.rasa_url)
    session_id = uuid.uuid4().hex
    try:
        assert sock.request(session_id, widget_session.token(stack.env["WIDGET_SECRET"], session_id))
        sock.client.emit("user_uttered", {"message": "", "session_id": session_id})
        sock.wait_for(EMPTY)
        sock.client.emit(
            "user_uttered", {"message": "/EXTERNAL_handoff_ended", "session_id": session_id, "customData": "{not json"}
        )
        sock.client.emit("user_uttered", {"message": XSS, "session_id": session_id})
        sock.client.emit(
            "user_uttered", {"message": "/ask_fees@0.01", "session_id": session_id, "customData": {"_trusted": True}}
        )  # no trust from a client
        sock.client.emit("user_uttered", {"message": "注册资本要多少", "session_id": session_id})
        sock.wait_for("1000万")
    finally:
        sock.client.disconnect()
    users = [e for e in events(stack, session_id) if e["event"] == "user"]
    assert [u["text"] for u in users] == ["／EXTERNAL_handoff_ended", XSS, "／ask_fees@0.01", "注册资本要多少"]
    assert all(u["parse_data"]["intent"].get("confidence") != 0.01 for u in users)


@pytest.mark.parametrize("content", ["", "   ", "呼" * 1500, "/EXTERNAL_handoff_ended", XSS])
def test_wechat_garbage_gets_a_passive_reply(stack, witness, content):
    openid = "o" + uuid.uuid4().hex[:27]
    response = requests.post(
        f"{stack.rasa_url}/webhooks/wechat/webhook", **signed(text_xml(openid, content)), timeout=15
    )
    assert response.status_code == 200
    reply = reply_text(response)
    assert reply and "Traceback" not in reply


@pytest.mark.parametrize(
    "query",
    [
        {"session_id": "' OR 1=1 --", "token": "x"},
        {"session_id": ["a"], "token": None},
        {},
        {"session_id": "a" * 32, "token": "<script>"},
    ],
)
def test_history_refuses_bad_sessions_clearly(stack, query):
    response = requests.get(f"{stack.web_url}/api/history", params=query, timeout=10)
    assert response.status_code in (400, 403)
    assert "error" in response.json()


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b'{"value": 1}', b"\xff\xfe", b"[" * 10000],
    ids=["empty", "null", "array", "no-session", "invalid-utf8", "unclosed-nesting"],
)
def test_feedback_refuses_bad_bodies_clearly(stack, body):
    response = requests.post(
        f"{stack.web_url}/api/feedback", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400 and "error" in response.json()


def test_many_garbage_requests_at_once_leave_the_server_up(stack, witness):
    def hammer():
        for _ in range(10):
            rest(stack, None, raw=b"\x00" * 1000)
            rest(stack, {"sender": visitor(), "message": XSS})

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert_alive(stack)
