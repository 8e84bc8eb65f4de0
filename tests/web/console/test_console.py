"""The staff console, one app per test with a fresh database."""

from __future__ import annotations

import csv
import io
import re
import statistics
import time
import warnings

import pytest

from bot import db, migrate, settings
from bot.store import facts, handoffs, leads, staff
from tests.support.console import csrf, login
from web import create_app
from web.console import auth


@pytest.fixture
def app(console_app):
    return console_app


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
    response = client.post(
        "/console/facts/licence.validity", data={"answer": "x", "confidence": "H", "verified_date": "2026-11-29"}
    )
    assert response.status_code == 403


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


def test_leads_list_and_detail_mask_phones_for_agents_and_status_changes(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    listing = client.get("/console/leads").get_data(as_text=True)
    assert "138****5678" in listing and "13812345678" not in listing
    lead_id = re.search(r"/console/leads/(\d+)", listing).group(1)
    detail = client.get(f"/console/leads/{lead_id}").get_data(as_text=True)
    assert "138****5678" in detail and "13812345678" not in detail  # F12: full phones are for admins
    admin = app.test_client()
    login(admin, "admin1", "admin password 1")
    assert "13812345678" in admin.get(f"/console/leads/{lead_id}").get_data(as_text=True)
    token = csrf(client, f"/console/leads/{lead_id}")
    client.post(
        f"/console/leads/{lead_id}",
        data={"csrf_token": token, "status": "contacted", "assignee": "agent1", "note": "已电话"},
    )
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
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    from bot.settings import PROJECT_ROOT

    client = app.test_client()
    login(client, "agent1", "agent password 1")
    token = csrf(client, "/console/improve")
    for text, intent in [
        ("注册资金够不够办全网", "ask_capital"),
        ("年报啥时候交", "ask_annual_report"),
        ("注册资金够不够办全网", "ask_capital"),
    ]:
        response = client.post(
            "/console/conversations/c1/collect", data={"csrf_token": token, "text": text, "intent": intent}
        )
        assert response.status_code == 302
    assert (
        client.post(
            "/console/conversations/c1/collect", data={"csrf_token": token, "text": "x", "intent": "no_such_intent"}
        ).status_code
        == 400
    )
    exported = client.get("/console/improve/nlu.yml").get_data(as_text=True)
    assert exported.count("注册资金够不够办全网") == 1
    data = tmp_path / "data"
    data.mkdir()
    (data / "collected.yml").write_text(exported, encoding="utf-8")
    # what `rasa data validate --domain bot/domain.yml --config bot/config.yml --data <data>` runs, in this
    # process (a new interpreter would spend most of the test importing Rasa): it exits on an invalid file;
    # its warnings (responses no story uses: there are no stories here) are its report, not a failure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        validate_files(
            False,
            None,
            TrainingDataImporter.load_from_config(
                domain_path=str(PROJECT_ROOT / "bot" / "domain.yml"),
                training_data_paths=[str(data)],
                config_path=str(PROJECT_ROOT / "bot" / "config.yml"),
            ),
        )


def test_a_conversation_exports_as_a_test_story():
    import yaml

    from bot.store.conversations import test_story

    story = yaml.safe_load(
        test_story(
            "c9",
            [
                {"kind": "user", "text": "你好", "intent": "greet"},
                {"kind": "action", "name": "utter_greet"},
                {"kind": "user", "text": "注册资本要多少", "intent": "ask_capital"},
                {"kind": "action", "name": "action_answer_fact"},
            ],
        )
    )
    assert story["stories"][0]["steps"] == [
        {"user": "你好\n", "intent": "greet"},
        {"action": "utter_greet"},
        {"user": "注册资本要多少\n", "intent": "ask_capital"},
        {"action": "action_answer_fact"},
    ]


# ---------- security: sessions, tokens, roles, login, headers (see docs in tests/security/test_console.py)
def api_csrf(client) -> str:
    return csrf(client, "/console/leads")


def copy_session(app, client):
    """A second browser holding a copy of ``client``'s console cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("console_session", client.get_cookie("console_session").value)
    return thief


def test_f07_logout_ends_every_copy_of_the_session(app):
    """F7: a cookie copied before logout is refused at its next request, on pages and on the API."""
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    thief = copy_session(app, client)
    assert thief.get("/console/leads").status_code == 200
    client.post("/console/logout", data={"csrf_token": api_csrf(client)})
    assert thief.get("/console/leads").status_code == 302
    assert thief.get("/console/api/leads").status_code == 401


def test_f07_role_changes_deletion_and_new_passwords_apply_at_the_next_request(app):
    """F7: the role is read from the database; deleting a user or changing the password ends their sessions."""
    url = app.config["SETTINGS"].database_url
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    assert client.get("/console/facts").status_code == 200
    with db.session_scope(url) as session:
        staff.set_role("admin1", "agent", session=session)
    assert client.get("/console/facts").status_code == 403
    assert "admin1（agent）" in client.get("/console/leads").get_data(as_text=True)
    with db.session_scope(url) as session:
        staff.set_password("admin1", "a new admin password", session=session)
    assert client.get("/console/leads").status_code == 302
    assert login(client, "admin1", "a new admin password").status_code == 302
    with db.session_scope(url) as session:
        staff.delete_user("admin1", session=session)
    assert client.get("/console/leads").status_code == 302
    assert client.get("/console/api/leads").status_code == 401


def test_s04_a_deleted_users_cookie_does_not_open_a_new_user_of_the_same_name(app):
    """S4: a new user started at session_version 0, so a cookie kept from a deleted namesake was valid again."""
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        staff.create_user("bob", "agent", "bob password 1", session=session)
    old = app.test_client()
    login(old, "bob", "bob password 1")
    assert old.get("/console/leads").status_code == 200
    with db.session_scope(url) as session:
        staff.delete_user("bob", session=session)
        session.flush()
        staff.create_user("bob", "admin", "new bob password", session=session)  # someone else, now an admin
    assert old.get("/console/facts").status_code == 302
    assert old.get("/console/api/leads").status_code == 401
    fresh = app.test_client()
    login(fresh, "bob", "new bob password")
    assert fresh.get("/console/facts").status_code == 200


def test_f07_a_session_has_an_absolute_lifetime(app, monkeypatch):
    """F7: even a session used all the time ends SESSION_MAX_AGE after login."""
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    now = time.time()
    monkeypatch.setattr(auth, "_now", lambda: now + auth.SESSION_MAX_AGE - 60)
    assert client.get("/console/leads").status_code == 200
    monkeypatch.setattr(auth, "_now", lambda: now + auth.SESSION_MAX_AGE + 1)
    assert client.get("/console/leads").status_code == 302


def test_f07_a_cookie_signed_before_this_version_is_refused(app):
    """F7: a validly signed cookie with only the old fields (user and role) opens nothing."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"], session["role"] = "admin1", "admin"
    assert client.get("/console/facts").status_code == 302
    assert client.get("/console/api/facts").status_code == 401


def test_f10_an_unknown_user_costs_as_much_as_a_wrong_password(app):
    """F10: the password hash runs for unknown users too, so the time does not reveal who exists."""
    client = app.test_client()

    def timed(name: str) -> float:
        token = csrf(client)
        started = time.perf_counter()
        assert (
            client.post(
                "/console/login", data={"username": name, "password": "wrong password!", "csrf_token": token}
            ).status_code
            == 401
        )
        return time.perf_counter() - started

    known = statistics.median(timed("agent1") for _ in range(4))
    unknown = statistics.median(timed(f"nobody{i}") for i in range(4))
    assert unknown > 0.5 * known, (known, unknown)


def test_f10_long_user_names_and_many_failures_keep_memory_bounded(app, monkeypatch):
    """F10: failures are kept for a bounded number of (address, name) pairs, each of fixed size."""
    monkeypatch.setattr(auth._failures, "max_keys", 20)
    client = app.test_client()
    for i in range(30):
        environ = {"REMOTE_ADDR": f"10.0.{i}.1"}
        page = client.get("/console/login", environ_base=environ).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert (
            client.post(
                "/console/login",
                environ_base=environ,
                data={"username": "x" * 200_000 + str(i), "password": "wrong", "csrf_token": token},
            ).status_code
            == 401
        )
    assert len(auth._failures) <= 20
    stored = auth._failures.keys()  # not a dict: the keys of its bounded store
    assert all(len(key) <= 64 for key in stored)


def test_f10_login_attempts_are_limited_per_address(app):
    """F10: past LOGIN_PER_MINUTE attempts a minute, one address is refused; other addresses are not."""
    client = app.test_client()
    token = csrf(client)
    for i in range(auth.LOGIN_PER_MINUTE):
        client.post("/console/login", data={"username": f"guess{i}", "password": "x", "csrf_token": token})
    assert login(client, "agent1", "agent password 1").status_code == 429
    other = app.test_client()
    page = other.get("/console/login", environ_base={"REMOTE_ADDR": "10.9.9.9"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (
        other.post(
            "/console/login",
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
            data={"username": "agent1", "password": "agent password 1", "csrf_token": token},
        ).status_code
        == 302
    )


def test_f06_export_neutralises_formulas_and_keeps_phones_readable(app):
    """F6: cells starting with = + - @ tab CR (or full-width ＝＋－＠) are exported as text."""
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        leads.save_lead(
            {
                "conversation_id": "c2",
                "channel": "rest",
                "name": "=1+2",
                "phone": "13900001111",
                "company": "\uff0bcmd",
                "region": "\t=x",
                "visitor_note": "+86 139 0000 1111 请回电",
                "consent": True,
            },
            session=session,
        )
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    text = client.get("/console/leads/export.csv").get_data().decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["conversation_id"] == "c2")
    assert (row["name"], row["company"], row["region"]) == ("'=1+2", "'\uff0bcmd", "'\t=x")
    assert row["visitor_note"] == "'+86 139 0000 1111 请回电" and row["phone"] == "13900001111"


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


def test_n06_console_headers_forbid_framing_inline_scripts_and_caching(app):
    """N6, I1: CSP without inline scripts or styles, no framing, nosniff, no-store on console pages and API."""
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    for path in ("/console/login", "/console/dashboard", "/console/leads", "/console/api/leads", "/console/handoff"):
        response = client.get(path)
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'" and response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", page), path
        assert " style=" not in page and "<style" not in page, path


def test_n06_widget_files_and_demo_page_keep_working_headers(app):
    """N6: the widget's files carry nosniff but nothing that stops other sites from loading them."""
    client = app.test_client()
    for path in ("/widget.js", "/widget.css", "/vendor/socket.io.min.js"):
        with client.get(path) as response:  # a file response holds the file open until closed
            assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers.get("Cross-Origin-Resource-Policy", "cross-origin") == "cross-origin"
            assert "X-Frame-Options" not in response.headers
    demo = client.get("/")
    assert "script-src 'self'" in demo.headers["Content-Security-Policy"]
    assert app.config["SETTINGS"].rasa_public_url.replace("http", "ws", 1) in demo.headers["Content-Security-Policy"]


def test_n08_non_ascii_csrf_and_bearer_tokens_get_clean_refusals(app):
    """N8, I2: 403/401 instead of a 500 from compare_digest."""
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    assert client.post("/console/logout", data={"csrf_token": "é"}).status_code == 403
    assert client.post("/console/api/handoffs/x/claim", headers={"X-CSRF-Token": "é"}).status_code == 403
    assert app.test_client().get("/console/api/leads", headers={"Authorization": "Bearer é"}).status_code == 401


@pytest.mark.parametrize("target", ["/console\r\nSet-Cookie: x=1", "/console\x00", "//evil.example", "/console\\x"])
def test_n08_login_next_with_control_characters_goes_home(app, target):
    """N8: a bad ``next`` after a good password leads to the console home, never a 500 or elsewhere."""
    client = app.test_client()
    token = csrf(client)
    response = client.post(
        "/console/login",
        query_string={"next": target},
        data={"username": "agent1", "password": "agent password 1", "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"].rstrip("/") == "/console"


def test_console_cli_manages_users_and_tokens(app, monkeypatch, capsys):
    """F7, I6: delete-user, set-role, set-password, create-token --role, list-tokens, revoke-token."""
    from tools import staff as console

    url = app.config["SETTINGS"].database_url
    monkeypatch.setenv("DATABASE_URL", url)
    assert console.main(["set-role", "agent1", "--role", "admin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert console.main(["set-password", "agent1"]) == 0
    capsys.readouterr()
    assert console.main(["list-users"]) == 0
    assert re.search(r"agent1\s+admin", capsys.readouterr().out)
    assert console.main(["delete-user", "agent1"]) == 0
    assert console.main(["delete-user", "agent1"]) == 1
    assert console.main(["create-token", "crm", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert console.main(["create-token", "crm"]) == 1  # one live token per name: revoke first
    assert console.main(["list-tokens"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"crm\s+admin", listing) and token not in listing
    client = app.test_client()
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert console.main(["revoke-token", "crm"]) == 0
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert console.main(["revoke-token", "crm"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert console.main(["create-user", "token:crm", "--role", "admin"]) == 1  # the tokens' namespace
    assert console.main(["create-token", "a b"]) == 1
    with db.session_scope(url) as session:
        assert staff.check_password(
            "admin password 1", session.query(staff.StaffUser).filter_by(name="admin1").one().password_hash
        )


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
    rasa.server.shutdown()
    rasa.server.server_close()


@pytest.mark.parametrize(
    "text, masked",
    [
        ("电话13812345678谢谢", "电话138****5678谢谢"),
        ("+86 138 1234 5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("座机010-12345678", "座机010****5678"),
        ("0755 1234567", "075****4567"),
        ("注册资本1000万元，2026-11-29前", "注册资本1000万元，2026-11-29前"),
        ("订单123456789012345", "订单123456789012345"),
    ],
)
def test_f12_phone_like_strings_are_masked_in_transcripts(text, masked):
    """F12: mobiles (with +86, spaces, dashes, full-width digits) and landlines are masked; dates and amounts stay."""
    from web.console.privacy import mask_phones

    assert mask_phones(text) == masked


# ---------- S3: what agents may not see in full, they cannot find out by searching or exporting either

PHONE = "13812345678"


def _conversation_with_a_phone(app) -> None:
    from bot.store import conversations

    now = __import__("datetime").datetime.utcnow()
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        session.add(
            conversations.ConversationSummary(
                conversation_id="s03-phone",
                channel="rest",
                first_at=now,
                last_at=now,
                user_messages=1,
                preview=f"我的电话 {PHONE}",
                search_text=f"\n我的电话 {PHONE}",
                topics="",
                tags="",
                fell_back=False,
                low_confidence=False,
                reviewed=False,
            )
        )
        session.add(
            conversations.CollectedExample(
                text=f"请打 {PHONE} 联系我", intent="request_consultant", conversation_id="s03-phone", collected_by="x"
            )
        )


@pytest.mark.parametrize("q", ["138", "5678", "1234567", "1 3 8", "138-1234", "１３８", "我的电话 138"])
def test_s03_agents_cannot_search_for_the_digits_of_a_phone(app, q):
    """S3: console search ran over the unmasked text: q=139… was a yes/no oracle for a masked phone."""
    _conversation_with_a_phone(app)
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    page = client.get("/console/conversations", query_string={"q": q})
    api = client.get("/console/api/conversations", query_string={"q": q})
    assert page.status_code == 400 and api.status_code == 400
    assert "s03-phone" not in page.get_data(as_text=True) + api.get_data(as_text=True)


def test_s03_agents_still_search_words_and_admins_search_phones(app):
    _conversation_with_a_phone(app)
    agent, admin = app.test_client(), app.test_client()
    login(agent, "agent1", "agent password 1")
    login(admin, "admin1", "admin password 1")
    assert "s03-phone" in agent.get("/console/conversations", query_string={"q": "电话"}).get_data(as_text=True)
    assert "s03-phone" in admin.get("/console/conversations", query_string={"q": PHONE}).get_data(as_text=True)


def test_s03_the_improve_page_and_its_export_mask_phones_for_agents(app):
    """S3: collected examples showed visitors' phones to agents in full (only the JSON twin masked them)."""
    _conversation_with_a_phone(app)
    agent, admin = app.test_client(), app.test_client()
    login(agent, "agent1", "agent password 1")
    login(admin, "admin1", "admin password 1")
    for path in ("/console/improve", "/console/improve/nlu.yml"):
        seen = agent.get(path).get_data(as_text=True)
        assert PHONE not in seen and "138****5678" in seen, path
        assert PHONE in admin.get(path).get_data(as_text=True), path
