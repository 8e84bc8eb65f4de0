"""The staff console, one app per test with a fresh database."""
from __future__ import annotations

import re

import pytest

from bot import db, facts, facts_loader, leads, settings
from tests.conftest import FACTS_DIR
from web import auth, create_app


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    facts_loader.load_facts([FACTS_DIR], url)
    config = settings.load({"DATABASE_URL": url, "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
                            "WIDGET_SECRET": "w", "CONSOLE_SECRET": "c"})
    app = create_app(config)
    with db.session_scope(url) as session:
        leads.create_user("admin1", "admin", "admin password 1", session=session)
        leads.create_user("agent1", "agent", "agent password 1", session=session)
        leads.save_lead({"conversation_id": "c1", "channel": "socketio", "name": "张先生", "phone": "13812345678",
                         "company": "某某科技", "consent": True, "topics": ["capital"]}, [], session=session)
    auth._failures.clear()
    return app


def csrf(client, path="/console/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, name, password):
    return client.post("/console/login", data={"username": name, "password": password,
                                               "csrf_token": csrf(client)})


def test_console_without_a_session_shows_the_login_form(app):
    client = app.test_client()
    assert "员工登录" in client.get("/console").get_data(as_text=True)
    response = client.get("/console/conversations")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_login_sets_a_http_only_same_site_cookie(app):
    client = app.test_client()
    response = login(client, "agent1", "agent password 1")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/console/conversations").status_code == 200


def test_wrong_password_and_rate_limit(app):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "agent1", "wrong").status_code == 401
    assert login(client, "agent1", "agent password 1").status_code == 429


def test_form_post_without_csrf_is_refused(app):
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    response = client.post("/console/facts/licence.validity", data={"answer": "x", "confidence": "H",
                                                                     "verified_date": "2026-11-29"})
    assert response.status_code == 403


def test_agent_cannot_edit_facts(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    assert client.get("/console/facts").status_code == 403
    token = csrf(client, "/console/leads")
    assert client.post("/console/facts/licence.validity", data={"csrf_token": token, "answer": "x",
                                                                "confidence": "H",
                                                                "verified_date": "2026-11-29"}).status_code == 403


def test_admin_edits_a_fact_with_an_audit_trail(app):
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post("/console/facts/licence.validity", data={
        "csrf_token": token, "question": "有效期多久？", "answer": "有效期为5年（复核）。", "confidence": "H",
        "confidence_note": "", "verified_date": "2026-11-29",
        "sources": "电信业务经营许可管理办法（工信部令第42号） | 第13条\n"})
    assert response.status_code == 302
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        assert facts.get_fact("licence.validity", session=session).answer == "有效期为5年（复核）。"
        assert facts.get_fact("licence.validity", session=session).source_text == \
            "电信业务经营许可管理办法（工信部令第42号）第13条"
        [edit] = facts.edits("licence.validity", session=session)
        assert edit.editor == "admin1" and edit.after["answer"] == "有效期为5年（复核）。"
        assert edit.before["answer"].startswith("增值电信业务经营许可证")
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "admin1" in page


def test_bad_fact_edit_is_refused_clearly(app):
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post("/console/facts/licence.validity", data={
        "csrf_token": token, "answer": "", "confidence": "H", "verified_date": "2026-11-29",
        "sources": "电信条例 | 第9条"})
    assert response.status_code == 400 and "answer" in response.get_data(as_text=True)
    response = client.post("/console/facts/licence.validity", data={
        "csrf_token": token, "answer": "有效期5年。", "confidence": "H", "verified_date": "2026-11-29",
        "sources": "  "})
    assert response.status_code == 400 and "source" in response.get_data(as_text=True)
    assert client.get("/console/api/facts").get_json()["facts"][0]["sources"]


def test_leads_list_masks_phones_detail_shows_them_and_status_changes(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    listing = client.get("/console/leads").get_data(as_text=True)
    assert "138****5678" in listing and "13812345678" not in listing
    lead_id = re.search(r"/console/leads/(\d+)", listing).group(1)
    assert "13812345678" in client.get(f"/console/leads/{lead_id}").get_data(as_text=True)
    token = csrf(client, f"/console/leads/{lead_id}")
    client.post(f"/console/leads/{lead_id}", data={"csrf_token": token, "status": "contacted",
                                                  "assignee": "agent1", "note": "已电话"})
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        lead = session.get(leads.Lead, int(lead_id))
        assert (lead.status, lead.assignee, lead.note) == ("contacted", "agent1", "已电话")


def test_csv_export_opens_in_excel_and_masks_phones_for_agents(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    body = client.get("/console/leads/export.csv").get_data()
    assert body.startswith("\ufeff".encode("utf-8"))
    text = body.decode("utf-8-sig")
    assert "张先生" in text and "138****5678" in text and "13812345678" not in text


def test_logout_needs_csrf_and_ends_the_session(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    token = csrf(client, "/console/leads")
    client.post("/console/logout", data={"csrf_token": token})
    assert client.get("/console/conversations").status_code == 302


def test_api_with_a_session_cookie_cannot_write_without_the_csrf_header(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    assert client.get("/console/api/leads").status_code == 200
    assert client.post("/console/api/handoffs/x/claim").status_code == 403


def test_collected_examples_export_as_valid_rasa_nlu(app, tmp_path):
    import subprocess
    import sys

    from bot.settings import PROJECT_ROOT

    client = app.test_client()
    login(client, "agent1", "agent password 1")
    token = csrf(client, "/console/improve")
    for text, intent in [("注册资金够不够办全网", "ask_capital"), ("年报啥时候交", "ask_annual_report"),
                         ("注册资金够不够办全网", "ask_capital")]:
        response = client.post("/console/conversations/c1/collect",
                               data={"csrf_token": token, "text": text, "intent": intent})
        assert response.status_code == 302
    assert client.post("/console/conversations/c1/collect",
                       data={"csrf_token": token, "text": "x", "intent": "no_such_intent"}).status_code == 400
    exported = client.get("/console/improve/nlu.yml").get_data(as_text=True)
    assert exported.count("注册资金够不够办全网") == 1
    data = tmp_path / "data"
    data.mkdir()
    (data / "collected.yml").write_text(exported, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "rasa", "data", "validate", "--domain", "bot/domain.yml",
                             "--config", "bot/config.yml", "--data", str(data)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_conversation_exports_as_a_test_story():
    from bot.conversations import test_story
    import yaml

    story = yaml.safe_load(test_story("c9", [
        {"kind": "user", "text": "你好", "intent": "greet"}, {"kind": "action", "name": "utter_greet"},
        {"kind": "user", "text": "注册资本要多少", "intent": "ask_capital"},
        {"kind": "action", "name": "action_answer_fact"}]))
    assert story["stories"][0]["steps"] == [
        {"user": "你好\n", "intent": "greet"}, {"action": "utter_greet"},
        {"user": "注册资本要多少\n", "intent": "ask_capital"}, {"action": "action_answer_fact"}]
