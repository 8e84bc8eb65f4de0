"""Console screen: the handoff desk and its API."""

from __future__ import annotations

import pytest

from bot import db, migrate, settings
from bot.store import handoffs, staff
from tests.support.console import api_csrf, login
from web import create_app


@pytest.fixture
def app(console_app):
    return console_app


def test_n04_only_the_claimer_writes_reads_or_ends_and_tokens_are_not_users(app):
    """N4, I6: a claimed handoff refuses other agents and a token named like the claiming user."""
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        handoffs.queue_handoff("visitor-1", "socketio", session=session)
        impostor = staff.create_token("agent1", session=session)
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert (
        agent.post("/console/api/handoffs/visitor-1/claim", headers={"X-CSRF-Token": api_csrf(agent)}).status_code
        == 200
    )
    headers = {"Authorization": f"Bearer {impostor}"}
    client = app.test_client()
    assert (
        client.post("/console/api/handoffs/visitor-1/messages", headers=headers, json={"text": "冒充"}).status_code
        == 409
    )
    assert client.get("/console/api/handoffs/visitor-1/messages", headers=headers).status_code == 409
    assert client.post("/console/api/handoffs/visitor-1/end", headers=headers).status_code == 409
    with db.session_scope(url) as session:
        handoff = handoffs.open_handoff("visitor-1", session=session)
        assert (handoff.status, handoff.agent) == ("claimed", "agent1")


def test_f01_a_failing_rasa_gives_staff_a_502_without_its_details(tmp_path, caplog):
    """F1: the desk's API says the assistant is unavailable; the token and Rasa's URL stay out of answer and log."""
    from tests.support.fake_rasa import TOKEN, FakeRasa

    rasa = FakeRasa(status=500)
    url = f"sqlite:///{tmp_path / 'console.db'}"
    migrate.upgrade(url)
    app = create_app(
        settings.load(
            {
                "DATABASE_URL": url,
                "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
                "WIDGET_SECRET": "w",
                "CONSOLE_SECRET": "c",
                "RASA_URL": rasa.url,
                "RASA_AUTH_TOKEN": TOKEN,
            }
        )
    )
    with db.session_scope(url) as session:
        handoffs.queue_handoff("visitor-1", "socketio", session=session)
        headers = {"Authorization": f"Bearer {staff.create_token('desk', session=session)}"}
    client = app.test_client()
    assert client.post("/console/api/handoffs/visitor-1/claim", headers=headers).status_code == 200
    for response in (
        client.post("/console/api/handoffs/visitor-1/messages", headers=headers, json={"text": "您好"}),
        client.get("/console/api/handoffs/visitor-1/messages", headers=headers),
    ):
        assert response.status_code == 502
        body = response.get_data(as_text=True)
        assert TOKEN not in body and rasa.url not in body and "500" not in body
    assert TOKEN not in caplog.text and "token=" not in caplog.text
    asked = len(rasa.paths)
    assert client.get("/console/api/handoffs/nobody/messages", headers=headers).status_code == 404
    assert len(rasa.paths) == asked  # no open handoff: Rasa is not asked at all
    rasa.close()
