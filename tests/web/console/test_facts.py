"""Console screen: facts (edits as new versions, refusals, admins only)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from bot import db
from bot.store import facts, staff
from tests.support.console import admin_client, csrf, login
from tests.support.databases import FACTS_DIR


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


# ---------- versions, diffs, restore and the export on the fact screens


def post_edit(client, key: str, **fields):
    page = client.get(f"/console/facts/{key}").get_data(as_text=True)
    form = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page))
    form["answer"] = re.search(r'<textarea name="answer"[^>]*>([^<]*)</textarea>', page).group(1)
    form["sources"] = re.search(r'<textarea name="sources"[^>]*>([^<]*)</textarea>', page).group(1)
    form["confidence"] = re.search(r'<option value="(\w)" selected', page).group(1)
    form.update(fields)
    return client.post(f"/console/facts/{key}", data=form)


def test_the_fact_page_shows_versions_with_a_diff_and_restores(app):
    client = admin_client(app)
    assert (
        post_edit(
            client, "licence.validity", answer="增值电信业务经营许可证有效期为5年，到期可申请延续。", reason="补充延续"
        ).status_code
        == 302
    )
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "已保存为 v2" in page and "补充延续" in page and "loaded from data/facts/licence.yml" in page
    assert "<ins>，到期可申请延续</ins>" in page and "<del>（含呼叫中心业务）</del>" in page
    seen = client.get("/console/facts/licence.validity?seen=1").get_data(as_text=True)  # from a transcript
    assert "对话中的访客看到的是" in seen and "当前是 v2" in seen and seen.count("<ins>，到期可申请延续</ins>") == 2
    assert "seen-notice" not in client.get("/console/facts/licence.validity?seen=99999999999999999999").get_data(
        as_text=True
    )
    version_page = client.get("/console/facts/licence.validity/versions/1").get_data(as_text=True)
    assert "file:data/facts/licence.yml" in version_page and "与当前版本 v2 相比" in version_page
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post("/console/facts/licence.validity/versions/1/restore", data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "已恢复 v1 的内容，保存为 v3" in page and "restore of v1" in page
    assert client.get("/console/facts/licence.validity/versions/7").status_code == 404
    assert (
        client.post("/console/facts/licence.validity/versions/7/restore", data={"csrf_token": token}).status_code == 404
    )


def test_a_form_loaded_before_someone_else_s_edit_is_refused_not_lost(app):
    first, second = admin_client(app), admin_client(app)
    assert post_edit(first, "licence.renewal", answer="甲的修改。", reason="甲").status_code == 302
    response = post_edit(second, "licence.renewal", base_version="1", answer="乙的修改。", reason="乙")
    assert response.status_code == 409 and "现为 v2" in response.get_data(as_text=True)
    assert "乙的修改。" in response.get_data(as_text=True)  # the form keeps what was typed
    assert 'name="base_version" value="2"' in response.get_data(as_text=True)  # saving it now is deliberate
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        assert facts.get_fact("licence.renewal", session=session).answer == "甲的修改。"
    assert post_edit(second, "licence.renewal", reason="").status_code == 400


def test_versions_api_twin_is_for_admins(app):
    client = admin_client(app)
    post_edit(client, "licence.validity", answer="有效期为五年。", reason="写法统一")
    body = client.get("/console/api/facts/licence.validity/versions").get_json()
    assert body["key"] == "licence.validity" and body["version"] == 2
    newest, first = body["versions"]
    assert (newest["version"], newest["author"], newest["reason"], newest["changed"]) == (
        2,
        "admin1",
        "写法统一",
        ["answer"],
    )
    assert newest["content"]["answer"] == "有效期为五年。" and first["changed"] == list(facts.CONTENT_FIELDS)
    assert newest["created_at"].endswith("Z")
    assert client.get("/console/api/facts/no.such/versions").get_json() == {"error": "no such fact"}
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        agent_token = staff.create_token("crm", session=session)
        admin_token = staff.create_token("ops", role="admin", session=session)
    anonymous = app.test_client()
    assert anonymous.get("/console/api/facts/licence.validity/versions").status_code == 401
    assert (
        anonymous.get(
            "/console/api/facts/licence.validity/versions", headers={"Authorization": f"Bearer {agent_token}"}
        ).status_code
        == 403
    )
    assert (
        anonymous.get(
            "/console/api/facts/licence.validity/versions", headers={"Authorization": f"Bearer {admin_token}"}
        ).get_json()["version"]
        == 2
    )
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert agent.get("/console/api/facts/licence.validity/versions").status_code == 403
    assert agent.get("/console/facts/licence.validity/versions/1").status_code == 403


def test_the_console_export_is_the_files_with_the_edit(app):
    client = admin_client(app)
    post_edit(client, "licence.validity", answer="有效期为五年。", reason="写法统一")
    archive = zipfile.ZipFile(io.BytesIO(client.get("/console/facts/export.zip").get_data()))
    names = sorted(archive.namelist())
    assert names == sorted(f"facts/{p.name}" for p in FACTS_DIR.glob("*.yml"))
    assert archive.read("facts/foreign.yml") == (FACTS_DIR / "foreign.yml").read_bytes()
    assert "    answer: 有效期为五年。\n" in archive.read("facts/licence.yml").decode("utf-8")
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert agent.get("/console/facts/export.zip").status_code == 403
