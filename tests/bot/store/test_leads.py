"""Leads: phone rules, dedupe within 24 h, the outbox, staff users and tokens, the API."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import db, settings
from bot.store import leads, staff
from notifier import worker as notify
from tests.support.config import config_for
from tools import staff as console
from web import create_app


@pytest.fixture
def url(empty_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_database)
    return empty_database


LEAD = {
    "conversation_id": "c1",
    "channel": "socketio",
    "name": "张先生",
    "phone": "13812345678",
    "company": "某某科技",
    "region": "广东省",
    "licence": "全网",
    "consent": True,
    "topics": ["capital"],
}


@pytest.mark.parametrize(
    "raw, phone",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 13812345678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("0755-1234567", "0755-1234567"),
    ],
)
def test_valid_phones(raw, phone):
    assert leads.normalize_phone(raw) == phone


@pytest.mark.parametrize("raw", ["12345", "23812345678", "1381234567", "abc", "138123456789", "12-3456789"])
def test_invalid_phones(raw):
    assert leads.normalize_phone(raw) is None


def test_phone_is_masked():
    assert leads.mask_phone("13812345678") == "138****5678"


def test_same_phone_within_24_hours_updates_the_lead(url):
    now = dt.datetime(2026, 11, 29, 10, 0)
    with db.session_scope(url) as session:
        first, created = leads.save_lead(LEAD, session=session, now=now)
        assert created
    with db.session_scope(url) as session:
        again, created = leads.save_lead(
            {**LEAD, "company": "新公司", "topics": ["materials"]}, session=session, now=now + dt.timedelta(hours=23)
        )
        assert not created and again.id == first.id
        assert again.company == "新公司" and again.topics == ["capital", "materials"]
    with db.session_scope(url) as session:
        later, created = leads.save_lead(LEAD, session=session, now=now + dt.timedelta(hours=25))
        assert created and later.id != first.id
        assert len(leads.list_leads(session=session)) == 2
        events = [n.event for n in session.query(leads.Notification).order_by(leads.Notification.id)]
        assert events == ["lead_created", "lead_updated", "lead_created"]


class Receiver:
    """A local webhook that fails the first requests, then records (idempotently)."""

    def __init__(self, failures: int):
        self.failures = failures
        self.keys: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.keys.append(body["idempotency_key"])
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        # polled often: shutdown() then returns at once, not after half a second
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


class FakeSmtp:
    """A local SMTP server (aiosmtpd) that refuses the first messages, then accepts."""

    def __init__(self, failures: int):
        from aiosmtpd.controller import Controller

        self.failures = failures
        self.messages: list[str] = []
        fake = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if fake.failures > 0:
                    fake.failures -= 1
                    return "451 try again later"
                fake.messages.append(envelope.content.decode("utf-8", "replace"))
                return "250 OK"

        from tests.support.stack import free_port

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


def test_outbox_delivers_every_lead_once_after_failures(url, monkeypatch):
    receiver = Receiver(failures=2)
    smtp = FakeSmtp(failures=1)
    # a local relay without a login: cleartext must be asked for (TLS is the default, see test_notify.py)
    env = {
        "NOTIFY_WEBHOOK_URL": receiver.url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "NOTIFY_EMAIL_TO": "sales@example.com",
        "SMTP_STARTTLS": "0",
    }
    try:
        with db.session_scope(url) as session:
            for i in range(3):
                leads.save_lead({**LEAD, "phone": f"1381234567{i}"}, session=session)
        monkeypatch.setattr(notify, "backoff", lambda attempts: dt.timedelta(0))
        for _ in range(6):
            notify.deliver_due(config_for(url, env))
        assert sorted(receiver.keys) == sorted(set(receiver.keys)) and len(receiver.keys) == 3
        import email
        from email import policy

        mails = [email.message_from_string(m, policy=policy.default) for m in smtp.messages]
        assert len(mails) == 3 and all("新线索" in m["Subject"] and "13812345" in m.get_content() for m in mails)
        with db.session_scope(url) as session:
            rows = session.query(leads.Notification).all()
            assert all(r.delivered_at for r in rows)
            assert max(r.attempts for r in rows) >= 2  # the failures were retried, not dropped
    finally:
        smtp.controller.stop()
        receiver.server.shutdown()
        receiver.server.server_close()


def test_undeliverable_rows_stay_visible_with_their_error(url):
    env = {"NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/unreachable"}
    with db.session_scope(url) as session:
        leads.save_lead(LEAD, session=session)
    notify.deliver_due(config_for(url, env))
    with db.session_scope(url) as session:
        row = session.query(leads.Notification).one()
        assert row.delivered_at is None and row.attempts == 1 and "ConnectionError" in row.last_error
        assert row.next_attempt_at > leads.utcnow()


def test_killed_worker_leaves_the_row_to_be_sent_again(url, monkeypatch):
    receiver = Receiver(failures=0)
    env = {"NOTIFY_WEBHOOK_URL": receiver.url}
    with db.session_scope(url) as session:
        leads.save_lead(LEAD, session=session)

    def die(row, env):  # the process dies after leasing the row, before marking it
        raise SystemExit("killed")

    monkeypatch.setitem(notify.SENDERS, "webhook", die)
    with pytest.raises(SystemExit):
        notify.deliver_due(config_for(url, env))
    monkeypatch.setitem(notify.SENDERS, "webhook", notify.send_webhook)
    assert notify.deliver_due(config_for(url, env)) == 0  # leased: another worker does not send it twice
    monkeypatch.setattr(notify, "LEASE", dt.timedelta(0))
    with db.session_scope(url) as session:
        session.query(leads.Notification).update({"locked_until": leads.utcnow() - dt.timedelta(seconds=1)})
    assert notify.deliver_due(config_for(url, env)) == 1
    assert len(receiver.keys) == 1
    receiver.server.shutdown()
    receiver.server.server_close()


def test_create_user_reads_the_password_from_stdin(url, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert console.main(["create-user", "wang", "--role", "agent"]) == 0
    with db.session_scope(url) as session:
        user = session.query(staff.StaffUser).one()
        assert user.role == "agent" and staff.check_password("correct horse battery", user.password_hash)
        assert not staff.check_password("wrong", user.password_hash)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert console.main(["create-user", "li", "--role", "admin"]) == 1
    assert "at least 10" in capsys.readouterr().err


def test_leads_api_requires_a_token_and_lists_newest_first(url, capsys):
    assert console.main(["create-token", "crm"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with db.session_scope(url) as session:
        leads.save_lead(LEAD, session=session, now=dt.datetime(2026, 11, 1))
        newer, _ = leads.save_lead({**LEAD, "phone": "13900000000"}, session=session, now=dt.datetime(2026, 11, 2))
        newer.status = "contacted"
    app = create_app(settings.load({"DATABASE_URL": url, "WIDGET_SECRET": "x"}))
    client = app.test_client()
    assert client.get("/console/api/leads").status_code == 401
    assert client.get("/console/api/leads", headers={"Authorization": "Bearer nope"}).status_code == 401
    body = client.get("/console/api/leads", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [lead["phone"] for lead in body["leads"]] == ["139****0000", "138****5678"]
    only = client.get("/console/api/leads?status=contacted", headers={"Authorization": f"Bearer {token}"})
    assert [lead["status"] for lead in only.get_json()["leads"]] == ["contacted"]
    assert (
        client.get("/console/api/leads?status=bogus", headers={"Authorization": f"Bearer {token}"}).status_code == 400
    )


class FakeWeComRobot:
    """A local 企业微信 group robot: answers errcode 45009 (rate limited) first, then records text messages."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.texts: list[str] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if robot.refusals > 0:
                    robot.refusals -= 1
                    answer = {"errcode": 45009, "errmsg": "api freq out of limit"}
                else:
                    assert body["msgtype"] == "text"
                    robot.texts.append(body["text"]["content"])
                    answer = {"errcode": 0, "errmsg": "ok"}
                payload = json.dumps(answer).encode()
                self.send_response(200)  # WeCom reports errors in the body, with HTTP 200
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=test"
        # polled often: shutdown() then returns at once, not after half a second
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_wecom_robot_gets_the_lead_after_an_errcode_refusal(url, monkeypatch):
    robot = FakeWeComRobot(refusals=1)
    env = {"WECOM_WEBHOOK_URL": robot.url}
    try:
        assert config_for(url, env).notifiers.channels == ["wecom"]
        with db.session_scope(url) as session:
            leads.save_lead({**LEAD, "phone": "13912345678"}, session=session)
        monkeypatch.setattr(notify, "backoff", lambda attempts: dt.timedelta(0))
        notify.deliver_due(config_for(url, env))
        with db.session_scope(url) as session:
            [row] = session.query(leads.Notification).all()
            assert row.delivered_at is None and "45009" in row.last_error  # an errcode is a failure
        notify.deliver_due(config_for(url, env))
        [text] = robot.texts
        assert "新线索" in text and "13912345678" in text
        with db.session_scope(url) as session:
            assert session.query(leads.Notification).one().delivered_at is not None
    finally:
        robot.server.shutdown()
        robot.server.server_close()


def test_f14_same_phone_from_another_conversation_never_overwrites(url):
    """F14: a second form with a known phone from another conversation leaves the lead alone; a new lead links to it."""
    with db.session_scope(url) as session:
        first, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
    with db.session_scope(url) as session:
        forged, created = leads.save_lead(
            {
                **LEAD,
                "conversation_id": "attacker",
                "name": "冒名者",
                "company": "攻击者写入的公司",
                "visitor_note": "改掉",
            },
            session=session,
        )
        assert created and forged.id != first.id and forged.duplicate_of == first.id
    with db.session_scope(url) as session:
        original = session.get(leads.Lead, first.id)
        assert (original.name, original.company, original.conversation_id, original.visitor_note) == (
            "张先生",
            "某某科技",
            "c1",
            "下午方便",
        )
        third, created = leads.save_lead({**LEAD, "conversation_id": "third"}, session=session)
        assert created and third.duplicate_of == first.id  # every repeat points at the first lead


def test_n09_the_visitors_note_never_replaces_the_staff_note(url):
    """N9: staff notes live in their own column; a repeated form in the same conversation keeps them."""
    with db.session_scope(url) as session:
        lead, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
        lead.note = "已电话，客户周五回复"  # what staff wrote in the console
    with db.session_scope(url) as session:
        again, created = leads.save_lead({**LEAD, "visitor_note": "改成上午", "note": "访客写的"}, session=session)
        assert not created and again.id == lead.id
        assert again.note == "已电话，客户周五回复" and again.visitor_note == "改成上午"
        assert again.as_dict()["visitor_note"] == "改成上午"


def test_f16_notifications_are_limited_per_phone(url):
    """F16: one phone number cannot make staff notifications pile up; the leads are still all stored."""
    with db.session_scope(url) as session:
        for i in range(6):
            leads.save_lead({**LEAD, "conversation_id": f"flood-{i}"}, session=session)
    with db.session_scope(url) as session:
        assert session.query(leads.Lead).count() == 6
        rows = session.query(leads.Notification).all()
        assert len({r.lead_id for r in rows}) == leads.NOTIFY_PER_PHONE
        assert len(rows) == leads.NOTIFY_PER_PHONE  # one row per lead: the notifier fans it out
        # another phone is not affected
        leads.save_lead({**LEAD, "phone": "13900000001", "conversation_id": "other"}, session=session)
        assert session.query(leads.Notification).count() == leads.NOTIFY_PER_PHONE + 1


def test_f16_notifications_have_an_hourly_ceiling(url):
    """F16: many phones in one hour: past the ceiling leads are stored and listed, but not pushed to staff."""
    now = dt.datetime(2026, 11, 29, 10, 0)
    with db.session_scope(url) as session:
        for i in range(5):
            leads.save_lead(
                {**LEAD, "conversation_id": f"c{i}", "phone": f"1390000000{i}"},
                session=session,
                now=now,
                hourly_limit=3,
            )
        assert session.query(leads.Notification).count() == 3
        leads.save_lead(
            {**LEAD, "conversation_id": "later", "phone": "13900000009"},
            session=session,
            now=now + dt.timedelta(minutes=61),
            hourly_limit=3,
        )
        assert session.query(leads.Notification).count() == 4
        assert session.query(leads.Lead).count() == 6


def test_n09_console_shows_the_visitor_note_apart_and_staff_edits_leave_it(url, tmp_path):
    """N9: staff see the visitor's 补充 and a possible duplicate; saving staff notes never touches the visitor's."""
    from tests.support.console import csrf, login

    with db.session_scope(url) as session:
        staff.create_user("admin1", "admin", "admin password 1", session=session)
        first, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
        repeat, _ = leads.save_lead(
            {**LEAD, "conversation_id": "other", "visitor_note": "<b>冒填</b>"}, session=session
        )
    app = create_app(
        settings.load(
            {
                "DATABASE_URL": url,
                "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
                "WIDGET_SECRET": "w",
                "CONSOLE_SECRET": "c",
            }
        )
    )
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    page = client.get(f"/console/leads/{repeat.id}").get_data(as_text=True)
    assert "&lt;b&gt;冒填&lt;/b&gt;" in page and f"/console/leads/{first.id}" in page and "可能重复" in page
    token = csrf(client, f"/console/leads/{first.id}")
    client.post(f"/console/leads/{first.id}", data={"csrf_token": token, "status": "contacted", "note": "员工备注"})
    with db.session_scope(url) as session:
        lead = session.get(leads.Lead, first.id)
        assert (lead.note, lead.visitor_note) == ("员工备注", "下午方便")
    export = client.get("/console/leads/export.csv").get_data(as_text=True)
    assert "visitor_note" in export.splitlines()[0] and "下午方便" in export
