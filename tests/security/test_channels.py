"""F3, F4, F5, F8, I3, I4, N7, N8, N10, N11: attacks on the public chat channels (REST, socket.io), widget API."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
import websocket

from bot.plugins.channels.guard import BAD_REQUEST
from bot.plugins.channels.public import SESSION_REFUSED
from tests.support.waiting import eventually
from tests.support.widget import Socket

REST = "/webhooks/rest/webhook"
INJECTION = '/inform{"province": "火星", "capital": 123456789}'
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\x00", "\x01", "\ufe0f", "／\u200b", "/", "\u200b／"]


def rest(stack, body, headers=None, raw: bytes | None = None, content_type="application/json"):
    url = f"{stack.rasa_url}{REST}"
    if raw is not None:
        return requests.post(url, data=raw, headers={"Content-Type": content_type, **(headers or {})}, timeout=30)
    return requests.post(url, json=body, headers=headers, timeout=30)


def tracker(stack, sender: str) -> dict:
    response = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=15
    )
    response.raise_for_status()
    return response.json()


def users(stack, sender: str) -> list[dict]:
    return [e for e in tracker(stack, sender)["events"] if e["event"] == "user"]


def widget_session(stack) -> dict:
    """A session as the widget gets it from the web app: a random id and its signed token."""
    response = requests.post(f"{stack.web_url}/api/session", timeout=10)
    response.raise_for_status()
    return response.json()


def say_as_bot(stack, session_id: str, text: str) -> None:
    """What a staff message does: an event through Rasa's API, sent on the socket.io channel."""
    response = requests.post(
        f"{stack.rasa_url}/conversations/{session_id}/tracker/events",
        params={"token": stack.token, "output_channel": "socketio", "execute_side_effects": "true"},
        json=[{"event": "bot", "text": text}],
        timeout=15,
    )
    assert response.status_code == 200


@pytest.fixture
def sockets(stack):
    opened = []

    def open_socket(headers=None):
        opened.append(Socket(stack.rasa_url, headers))
        return opened[-1]

    yield open_socket
    for sock in opened:
        sock.close()


# ---------------------------------------------------------------- F3: payload guard bypass


@pytest.mark.parametrize("prefix", INVISIBLE)
def test_f03_an_invisible_character_before_a_payload_sets_no_slot(stack, prefix):
    """F3: "\\u200b/inform{…}" set province 火星 and capital 123456789; now it is read as words."""
    sender = f"sec-f03-{uuid.uuid4().hex[:12]}"
    assert rest(stack, {"sender": sender, "message": prefix + INJECTION}).status_code == 200
    state = tracker(stack, sender)
    assert state["slots"].get("province") != "火星"
    assert state["slots"].get("capital") != 123456789
    user = [e for e in state["events"] if e["event"] == "user"][-1]
    assert not [e for e in user["parse_data"]["entities"] if e.get("extractor") == "RegexMessageHandler"]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff/restart",
        "\u200b/restart",
        "\x00/restart",
        "//restart",
        "／\u200b/restart",
        "\x01/EXTERNAL_handoff_ended",
        "\u200d/session_start",
        "\u200b/ask_fees@0.01",
    ],
)
def test_f03_restart_handoff_end_and_forged_confidence_stay_words(stack, text):
    """F3: a wiped state, an ended takeover or a forged confidence needed one invisible character."""
    sender = f"sec-f03-{uuid.uuid4().hex[:12]}"
    stack.say(sender, "全网和地网有什么区别")
    assert rest(stack, {"sender": sender, "message": text}).status_code == 200
    events = tracker(stack, sender)["events"]
    assert not [e for e in events if e["event"] == "restart"]
    user = [e for e in events if e["event"] == "user"][-1]
    assert user["parse_data"]["intent"].get("name") not in ("restart", "EXTERNAL_handoff_ended", "session_start")
    assert user["parse_data"]["intent"].get("confidence") != 0.01
    assert user["text"].startswith("／")  # kept as the visitor's words, defused


def test_f03_the_same_over_socketio(stack, sockets):
    """F3: the widget's channel screens the same text."""
    session = widget_session(stack)
    sock = sockets()
    assert sock.request(session["session_id"], session["token"])
    sock.client.emit("user_uttered", {"message": "注册资本要多少", "session_id": session["session_id"]})
    sock.wait_for("1000万")
    sock.client.emit("user_uttered", {"message": "\ufeff/restart", "session_id": session["session_id"]})
    sock.client.emit("user_uttered", {"message": "\u200b" + INJECTION, "session_id": session["session_id"]})
    eventually(lambda: len(users(stack, session["session_id"])) >= 3)
    state = tracker(stack, session["session_id"])
    assert len([e for e in state["events"] if e["event"] == "user"]) == 3
    assert not [e for e in state["events"] if e["event"] == "restart"]
    assert state["slots"].get("province") != "火星"


def test_f03_the_buttons_still_work(stack):
    """F3: what the buttons send is unchanged."""
    assert "1000万" in stack.text(f"sec-f03-{uuid.uuid4().hex[:12]}", "/ask_capital")


# ---------------------------------------------------------------- F4: unbounded rooms


def test_f04_a_socket_that_asks_for_more_sessions_only_keeps_the_last(stack, sockets):
    """F4: each session_request used to add a room for the socket's lifetime (and its messages)."""
    sessions = [widget_session(stack) for _ in range(5)]
    sock = sockets()
    for session in sessions:
        assert sock.request(session["session_id"], session["token"])
    say_as_bot(stack, sessions[0]["session_id"], "发给第一个会话")
    say_as_bot(stack, sessions[-1]["session_id"], "发给最后一个会话")
    # one socket receives in the order Rasa sends: had the first room still been open, its message,
    # sent before, would be here by the time the last one is
    sock.wait_for("发给最后一个会话")
    assert "发给第一个会话" not in sock.received


@pytest.mark.parametrize("session_id", ["s" * 1000, "a" * 32, "not-a-widget-id", "A" * 32])
def test_f04_ids_without_a_valid_token_open_no_room(stack, sockets, session_id):
    """F4, F5: any id used to be accepted and kept for the socket's lifetime; now a session needs its token."""
    sock = sockets()
    assert not sock.request(session_id, "0" * 64)
    assert SESSION_REFUSED in sock.received


@pytest.mark.parametrize("event", ["session_request", "user_uttered"])
def test_f04_an_oversized_frame_closes_the_socket_and_nothing_else(stack, sockets, event):
    """F4: frames up to 1 MB were accepted (a 100 KB session id was kept as a room); now a few KB."""
    session = widget_session(stack)
    sock = sockets()
    assert sock.request(session["session_id"], session["token"])
    sock.client.emit(event, {"message": "呼" * 20_000, "session_id": "s" * 100_000, "token": session["token"]})
    eventually(lambda: not sock.client.connected, 10)
    again = sockets()  # the next visitor is served
    fresh = widget_session(stack)
    assert again.request(fresh["session_id"], fresh["token"])
    again.client.emit("user_uttered", {"message": "呼" * 1200, "session_id": fresh["session_id"]})
    assert "1000 字的上限" in again.wait_for("上限")  # a long message still gets the polite answer


# ---------------------------------------------------------------- F5: a session id alone


def test_f05_a_session_id_alone_neither_listens_nor_speaks_in_a_widget_conversation(stack, sockets):
    """F5: anyone with the id received the visitor's answers live and could write as the visitor."""
    victim_session = widget_session(stack)
    victim = sockets()
    assert victim.request(victim_session["session_id"], victim_session["token"])
    attacker = sockets()
    assert not attacker.request(victim_session["session_id"])  # the id alone
    attacker.client.emit(
        "user_uttered", {"message": "（攻击者以访客身份发送的消息）", "session_id": victim_session["session_id"]}
    )
    attacker.wait_for(SESSION_REFUSED)
    victim.client.emit("user_uttered", {"message": "需要哪些材料", "session_id": victim_session["session_id"]})
    answer = victim.wait_for("材料")
    # the probe: the attacker's next message is refused on its own socket, after anything sent to it before
    refusals = attacker.received.count(SESSION_REFUSED)
    attacker.say("（探测）", victim_session["session_id"])
    eventually(lambda: attacker.received.count(SESSION_REFUSED) > refusals)
    assert answer not in attacker.received
    assert [u["text"] for u in users(stack, victim_session["session_id"])] == ["需要哪些材料"]


def test_f05_rest_cannot_write_into_a_widget_conversation_without_its_token(stack):
    """F5: REST accepted any sender, a widget visitor's id included."""
    session = widget_session(stack)
    refused = rest(stack, {"sender": session["session_id"], "message": "（攻击者的消息）"})
    assert refused.status_code == 403 and "X-Widget-Token" in refused.json()["error"]
    wrong = rest(
        stack, {"sender": session["session_id"], "message": "（攻击者的消息）"}, headers={"X-Widget-Token": "é" * 64}
    )
    assert wrong.status_code == 403
    assert users(stack, session["session_id"]) == []
    owner = rest(
        stack,
        {"sender": session["session_id"], "message": "注册资本要多少"},
        headers={"X-Widget-Token": session["token"]},
    )
    assert owner.status_code == 200 and "1000万" in owner.json()[0]["text"]
    trusted = stack.say(session["session_id"], "注册资本要多少", trusted=True)  # the Rasa token holder
    assert "1000万" in trusted[0]["text"]
    assert [u["text"] for u in users(stack, session["session_id"])] == ["注册资本要多少", "注册资本要多少"]


# ---------------------------------------------------------------- F8, I4, N10: REST body


@pytest.mark.parametrize("claimed", ["wechat", "socketio", "A" * 40, '<img src=x onerror="alert(1)">'])
def test_f08_rest_records_its_own_channel_whatever_the_body_claims(stack, claimed):
    """F8: input_channel came from the body (spoofing; over 30 characters it broke the console on PostgreSQL)."""
    sender = f"sec-f08-{uuid.uuid4().hex[:12]}"
    assert rest(stack, {"sender": sender, "message": "你好", "input_channel": claimed}).status_code == 200
    assert [u["input_channel"] for u in users(stack, sender)] == ["rest"]


@pytest.mark.parametrize(
    "body", [{"message": "你好"}, {"sender": None, "message": "你好"}, {"sender": "", "message": "你好"}]
)
def test_i04_rest_without_a_sender_is_refused(stack, body):
    """I4: every caller without `sender` shared the conversation "default" (and its lead-form answers)."""
    before = len(users(stack, "default"))
    response = rest(stack, body)
    assert response.status_code == 400 and "sender is required" in response.json()["error"]
    assert len(users(stack, "default")) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""])
def test_n10_rest_takes_json_bodies_only(stack, content_type):
    """N10: a text/plain JSON body (a CORS simple request, no preflight) was processed."""
    sender = f"sec-n10-{uuid.uuid4().hex[:12]}"
    raw = ('{"sender": "' + sender + '", "message": "你好"}').encode()
    response = rest(stack, None, raw=raw, content_type=content_type)
    assert response.status_code == 415 and "application/json" in response.json()["error"]
    assert users(stack, sender) == []
    ok = rest(stack, None, raw=raw, content_type="application/json; charset=utf-8")
    assert ok.status_code == 200


@pytest.mark.parametrize("sender", ["dos/1", "a b", "x%2F", "x#y", "访客", "..", "x?token=1", "x\u200b"])
def test_s02_rest_refuses_senders_staff_could_not_address(stack, sender):
    """S2: a sender Rasa's API cannot address (its handoff could never be ended or expired) is refused."""
    prefix = f"sec-s02-{uuid.uuid4().hex[:8]}-"
    response = rest(stack, {"sender": sender if sender == ".." else prefix + sender, "message": "转人工"})
    assert response.status_code == 400 and "sender" in response.json()["error"]
    assert rest(stack, {"sender": prefix + "ok", "message": "你好"}).ok  # the same visitor with a plain id is served


def test_s02_rest_accepts_the_longest_addressable_sender(stack):
    """S2, F8: 128 characters of letters, digits and URL punctuation are still one conversation."""
    sender = (f"sec-s02-{uuid.uuid4().hex}:@!$~" + "x" * 128)[:128]
    assert rest(stack, {"sender": sender, "message": "你好"}).status_code == 200
    assert [u["text"] for u in users(stack, sender)] == ["你好"]


def test_s02_rest_tells_the_actions_the_callers_keyed_address_not_the_address(stack):
    """S2: the handoff action limits places per address; it gets a key of the address, never the address."""
    sender = f"sec-s02-{uuid.uuid4().hex[:12]}"
    body = {"sender": sender, "message": "你好", "metadata": {"client": "forged"}}
    assert rest(stack, body).status_code == 200
    [event] = users(stack, sender)
    client = (event.get("metadata") or {}).get("client")
    assert client and client != "forged" and "127.0.0.1" not in client and len(client) == 16


# ---------------------------------------------------------------- I3, N11: socket.io origins


def handshake(stack, origin: str) -> int:
    """Open socket.io's websocket as a browser on ``origin`` would; the HTTP status of the handshake."""
    url = stack.rasa_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    try:
        ws = websocket.create_connection(url, origin=origin, timeout=10)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    ws.close()
    return 101


def test_i03_socketio_refuses_browsers_on_other_sites(stack):
    """I3, N11: any site could run a copy of the widget against socket.io (cors_allowed_origins=[])."""
    assert handshake(stack, "http://evil.example") == 400
    assert handshake(stack, "null") == 400
    assert handshake(stack, stack.web_url) == 101  # the sites in CORS_ORIGINS
    polling = requests.get(
        f"{stack.rasa_url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert polling.status_code == 400
    allowed = requests.get(
        f"{stack.rasa_url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": stack.web_url},
        timeout=10,
    )
    assert allowed.status_code == 200
    assert allowed.raw.headers.getlist("Access-Control-Allow-Origin") == [stack.web_url]  # once, not twice


# ---------------------------------------------------------------- widget web API


def test_n07_the_demo_page_does_not_take_its_addresses_from_the_host_header(stack):
    """N7: Host: evil.example made the page load http://evil.example/widget.js."""
    page = requests.get(f"{stack.web_url}/", headers={"Host": "evil.example"}, timeout=10).text
    assert "evil.example" not in page and 'src="/widget.js"' in page


@pytest.mark.parametrize("token", ["é", "中文", "\u200b" * 64])
def test_n08_non_ascii_tokens_get_403_not_500(stack, token):
    """N8: hmac.compare_digest raised TypeError on non-ASCII text: 500."""
    session = widget_session(stack)
    history = requests.get(
        f"{stack.web_url}/api/history",
        params={"session_id": session["session_id"]},
        headers={"X-Widget-Token": token.encode()},
        timeout=10,
    )
    assert history.status_code == 403 and "error" in history.json()
    feedback = requests.post(
        f"{stack.web_url}/api/feedback",
        json={"session_id": session["session_id"], "token": token, "value": 1, "message_text": "x"},
        timeout=10,
    )
    assert feedback.status_code == 403 and "error" in feedback.json()


def test_n11_the_history_token_stays_out_of_the_url(stack):
    """N11, F18: /api/history?token=… put the token in access logs; it goes in X-Widget-Token now."""
    session = widget_session(stack)
    in_url = requests.get(f"{stack.web_url}/api/history", params=session, timeout=10)
    assert in_url.status_code == 400 and "X-Widget-Token" in in_url.json()["error"]
    in_header = requests.get(
        f"{stack.web_url}/api/history",
        params={"session_id": session["session_id"]},
        headers={"X-Widget-Token": session["token"]},
        timeout=10,
    )
    assert in_header.status_code == 200 and in_header.json() == {"messages": []}


def test_f05_sessions_stay_apart_under_concurrent_visitors(stack, sockets):
    """F5: two visitors at once each get their own answers only."""
    first, second = widget_session(stack), widget_session(stack)
    a, b = sockets(), sockets()
    assert a.request(first["session_id"], first["token"]) and b.request(second["session_id"], second["token"])
    threads = [
        threading.Thread(target=s.client.emit, args=("user_uttered", {"message": q, "session_id": sid}))
        for s, q, sid in ((a, "年报什么时候报", first["session_id"]), (b, "需要哪些材料", second["session_id"]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a_answer, b_answer = a.wait_for("3月31日"), b.wait_for("材料")
    # the probe: each visitor asks once more; a leaked answer, sent before, arrives before the probe's reply
    for sock, session_id in ((a, first["session_id"]), (b, second["session_id"])):
        before = len(sock.received)
        sock.say("注册资本要多少", session_id)
        sock.wait_for_new("1000万", before)
    assert b_answer not in a.received and a_answer not in b.received
    assert BAD_REQUEST not in a.received + b.received
