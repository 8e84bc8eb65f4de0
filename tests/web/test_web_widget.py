"""The web app's widget API, with a fresh database and a stand-in for Rasa's tracker API."""

from __future__ import annotations

import pytest
import requests

from bot import db, settings
from bot.store.conversations import Feedback
from web import create_app

TRACKERS = {
    # what Rasa's GET /conversations/<id>/tracker returns for two visitors
    "a" * 32: [
        {"event": "session_started"},
        {
            "event": "bot",
            "text": "您好！",
            "timestamp": 1.0,
            "data": {"buttons": [{"title": "申请条件", "payload": "/ask_conditions"}]},
        },
        {"event": "user", "text": "/ask_conditions", "timestamp": 2.0},
        {"event": "bot", "text": "①依法设立的公司…", "timestamp": 3.0, "data": {}},
    ],
    "b" * 32: [{"event": "user", "text": "别人的问题", "timestamp": 5.0}],
}


class FakeResponse:
    ok, status_code = True, 200

    def __init__(self, payload):
        self.payload = payload
        self.content = b"{}"

    def raise_for_status(self):
        pass

    def json(self):
        return self.payload


@pytest.fixture
def app(empty_database, monkeypatch):
    config = settings.load(
        {
            "DATABASE_URL": empty_database,
            "WIDGET_SECRET": "s3cret",
            "CONSOLE_SECRET": "c",  # named: the checkout's var/console.secret is never written
            "RASA_AUTH_TOKEN": "rasa-token",
            "CORS_ORIGINS": "https://customer.example",
        }
    )
    calls = []

    def fake_request(method, url, params=None, timeout=None, **kwargs):
        calls.append((url, params))
        session_id = url.rstrip("/").split("/")[-2]
        return FakeResponse({"events": TRACKERS.get(session_id, [])})

    monkeypatch.setattr(requests, "request", fake_request)
    app = create_app(config)
    app.config["CALLS"] = calls
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def new_session(client):
    return client.post("/api/session").get_json()


def test_session_ids_are_random_and_signed(client):
    first, second = new_session(client), new_session(client)
    assert first["session_id"] != second["session_id"]
    assert len(first["session_id"]) == 32 and first["token"] != second["token"]
    assert first["socket_path"] == "/socket.io"


def test_history_returns_the_sessions_own_messages_with_button_titles(app, client):
    from web.widget import session_token

    with app.test_request_context():
        token = session_token("a" * 32)
    body = client.get(f"/api/history?session_id={'a' * 32}", headers={"X-Widget-Token": token}).get_json()
    assert [(m["sender"], m["text"]) for m in body["messages"]] == [
        ("bot", "您好！"),
        ("user", "申请条件"),
        ("bot", "①依法设立的公司…"),
    ]
    url, params = app.config["CALLS"][0]
    assert url.endswith(f"/conversations/{'a' * 32}/tracker") and params["token"] == "rasa-token"


def test_another_sessions_id_gets_nothing(app, client):
    mine = new_session(client)
    # my token does not open someone else's conversation
    response = client.get(f"/api/history?session_id={'b' * 32}", headers={"X-Widget-Token": mine["token"]})
    assert response.status_code == 403
    assert app.config["CALLS"] == []
    # a fresh session of my own has no messages, whatever others said
    own = client.get(
        f"/api/history?session_id={mine['session_id']}", headers={"X-Widget-Token": mine["token"]}
    ).get_json()
    assert own == {"messages": []}


@pytest.mark.parametrize("query", ["", "session_id=xyz", f"session_id={'A' * 32}", "session_id=../../status"])
def test_malformed_session_ids_are_refused(client, query):
    response = client.get(f"/api/history?{query}", headers={"X-Widget-Token": "t"})
    assert response.status_code == 400
    assert "session_id" in response.get_json()["error"]


def test_history_when_rasa_is_down_is_a_clear_503(client, monkeypatch):
    session = new_session(client)

    def down(*args, **kwargs):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests, "request", down)
    response = client.get(
        f"/api/history?session_id={session['session_id']}", headers={"X-Widget-Token": session["token"]}
    )
    assert response.status_code == 503 and "unavailable" in response.get_json()["error"]


def test_feedback_is_stored_with_the_conversation(app, client):
    session = new_session(client)
    response = client.post("/api/feedback", json={**session, "value": -1, "message_text": "①依法设立的公司…"})
    assert response.status_code == 201
    with db.session_scope(app.config["SETTINGS"].database_url) as stored:
        rows = stored.query(Feedback).all()
        assert [(r.conversation_id, r.value) for r in rows] == [(session["session_id"], -1)]


@pytest.mark.parametrize(
    "body",
    [
        {"value": 2, "message_text": "x"},
        {"value": True, "message_text": "x"},
        {"value": 1, "message_text": ""},
        {"value": 1},
    ],
)
def test_bad_feedback_is_refused(client, body):
    session = new_session(client)
    response = client.post(
        "/api/feedback", json={"session_id": session["session_id"], "token": session["token"], **body}
    )
    assert response.status_code == 400


def test_feedback_with_a_wrong_token_is_refused(client):
    session = new_session(client)
    response = client.post(
        "/api/feedback", json={"session_id": session["session_id"], "token": "0" * 64, "value": 1, "message_text": "x"}
    )
    assert response.status_code == 403


def test_cors_only_for_listed_origins(client):
    allowed = client.post("/api/session", headers={"Origin": "https://customer.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://customer.example"
    other = client.post("/api/session", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # the history's token travels in a header: a listed site's preflight may send it
    preflight = client.options(
        "/api/history",
        headers={"Origin": "https://customer.example", "Access-Control-Request-Headers": "x-widget-token"},
    )
    assert "x-widget-token" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_i_n11_the_history_token_is_refused_in_the_url(app, client):
    """I-N11, F18: a token in the query string would end up in access logs: refused with a clear 400."""
    session = new_session(client)
    response = client.get(f"/api/history?session_id={session['session_id']}&token={session['token']}")
    assert response.status_code == 400 and "X-Widget-Token" in response.get_json()["error"]
    assert app.config["CALLS"] == []


@pytest.mark.parametrize("token", ["é", "\u200b", "０" * 64, "ａ" * 64])
def test_n08_a_non_ascii_token_is_refused_not_a_500(client, token):
    """N8: hmac.compare_digest raised TypeError on non-ASCII str: now bytes are compared, 403."""
    session = new_session(client)
    history = client.get(
        f"/api/history?session_id={session['session_id']}", headers={"X-Widget-Token": token.encode().decode("latin-1")}
    )
    assert history.status_code == 403
    feedback = client.post(
        "/api/feedback", json={"session_id": session["session_id"], "token": token, "value": 1, "message_text": "x"}
    )
    assert feedback.status_code == 403 and "token" in feedback.get_json()["error"]


def test_n07_the_demo_page_ignores_the_host_header(client):
    """N7: the page's script address came from the Host header (cache poisoning): now it is the page's own."""
    page = client.get("/", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in page
    assert 'src="/widget.js"' in page and "data-server" not in page


def test_demo_page_embeds_the_widget_with_one_script_tag(client):
    page = client.get("/").get_data(as_text=True)
    assert page.count("<script") == 1
    for path in ("/widget.js", "/widget.css", "/vendor/socket.io.min.js"):
        with client.get(path) as response:  # a file response holds the file open until closed
            assert response.status_code == 200


def test_one_address_calling_the_widget_api_too_often_is_told_to_wait(tmp_path):
    config = settings.load(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
            "WIDGET_SECRET": "s3cret",
            "CONSOLE_SECRET": "c",
            "RATE_LIMIT_PER_IP": "5",
        }
    )
    client = create_app(config).test_client()
    statuses = [client.post("/api/session").status_code for _ in range(6)]
    assert statuses == [201] * 5 + [429] or statuses == [200] * 5 + [429]
    refused = client.post("/api/session")
    assert refused.status_code == 429 and "wait a minute" in refused.get_json()["error"]
    other = client.post("/api/session", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code in (200, 201)  # per address
    assert client.get("/").status_code == 200  # pages are not limited
