"""Console screen: facts (edits as new versions, refusals, admins only)."""

from __future__ import annotations

import pytest

from bot import db
from bot.store import facts, staff
from tests.support.console import csrf, login


@pytest.fixture
def app(console_app):
    return console_app


def test_agent_cannot_edit_facts(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    assert client.get("/console/facts").status_code == 403
    token = csrf(client, "/console/leads")
    assert (
        client.post(
            "/console/facts/licence.validity",
            data={"csrf_token": token, "answer": "x", "confidence": "H", "verified_date": "2026-11-29"},
        ).status_code
        == 403
    )


def test_admin_edits_a_fact_as_a_new_version_with_author_and_reason(app):
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post(
        "/console/facts/licence.validity",
        data={
            "csrf_token": token,
            "question": "有效期多久？",
            "answer": "有效期为5年（复核）。",
            "confidence": "H",
            "confidence_note": "",
            "verified_date": "2026-11-29",
            "base_version": "1",
            "reason": "按令42第13条复核",
            "sources": "电信业务经营许可管理办法（工信部令第42号） | 第13条\n",
        },
    )
    assert response.status_code == 302
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        assert facts.get_fact("licence.validity", session=session).answer == "有效期为5年（复核）。"
        assert (
            facts.get_fact("licence.validity", session=session).source_text
            == "电信业务经营许可管理办法（工信部令第42号）第13条"
        )
        new, first = facts.versions("licence.validity", session=session)
        assert (new.version, new.author, new.reason) == (2, "admin1", "按令42第13条复核")
        assert new.content["answer"] == "有效期为5年（复核）。"
        assert first.content["answer"].startswith("增值电信业务经营许可证")
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "admin1" in page and "按令42第13条复核" in page and "已保存为 v2" in page


def test_bad_fact_edit_is_refused_clearly(app):
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post(
        "/console/facts/licence.validity",
        data={
            "csrf_token": token,
            "answer": "",
            "confidence": "H",
            "verified_date": "2026-11-29",
            "sources": "电信条例 | 第9条",
        },
    )
    assert response.status_code == 400 and "answer" in response.get_data(as_text=True)
    response = client.post(
        "/console/facts/licence.validity",
        data={
            "csrf_token": token,
            "answer": "有效期5年。",
            "confidence": "H",
            "verified_date": "2026-11-29",
            "sources": "  ",
        },
    )
    assert response.status_code == 400 and "source" in response.get_data(as_text=True)
    assert client.get("/console/api/facts").get_json()["facts"][0]["sources"]


def test_n05_facts_api_is_for_admins(app):
    """N5: /console/api/facts refuses agents (cookie or token), like /console/facts."""
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert agent.get("/console/api/facts").status_code == 403
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        agent_token = staff.create_token("crm", session=session)
        admin_token = staff.create_token("ops", role="admin", session=session)
    client = app.test_client()
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {admin_token}"}).get_json()["facts"]
