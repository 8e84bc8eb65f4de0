"""The notifier's transport security and what it writes to logs and the outbox (F5, F17, F18)."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import logging
import ssl
from email import policy

import pytest

from bot import db, settings
from bot.store import handoffs, leads
from notifier import worker as notify
from tests.support import leads as leads_support
from tests.support.config import config_for
from tests.support.http import Answer, FakeEndpoint, Request
from tests.support.stack import free_port

# a conversation id that looks like the widget's: no log line and no message to staff may show it
LEAD = {**leads_support.LEAD, "conversation_id": "3f2a9c0d4b5e6f708192a3b4c5d6e7f8"}


def make_certificates(tmp_path):
    """A private CA and a server certificate it signed for 127.0.0.1, plus a self-signed one (files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    def write(name, cert, key):
        (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}.key")

    ca_key, server_key, evil_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test notifier CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server = certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        ca_name,
        server_key.public_key(),
        ca_key,
        ca=False,
    )
    evil_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil")])
    evil = certificate(evil_name, evil_name, evil_key.public_key(), evil_key, ca=False)
    return {
        "ca": write("ca", ca, ca_key)[0],
        "server": write("server", server, server_key),
        "self_signed": write("evil", evil, evil_key),
    }


class Smtp:
    """aiosmtpd on 127.0.0.1: STARTTLS required, implicit TLS, or plaintext; records mails and logins.

    ``failures``: so many mails are refused first (451), as a busy relay does.
    """

    def __init__(self, cert: tuple[str, str] | None, mode: str, failures: int = 0):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[str] = []
        self.logins: list[tuple[str, str]] = []
        self.failures = failures  # the first mails are refused with 451 (try again later)
        fake = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if fake.failures > 0:
                    fake.failures -= 1
                    return "451 try again later"
                fake.messages.append(envelope.content.decode("utf-8", "replace"))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            fake.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=True)

        context = None
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        self.port = free_port()
        # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the whole session is encrypted
        kwargs = {"authenticator": authenticate, "auth_require_tls": mode == "starttls"}
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif mode == "ssl":
            kwargs.update(ssl_context=context)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self):
        self.controller.stop()


@pytest.fixture
def certs(tmp_path):
    return make_certificates(tmp_path)


def queue_mail(url, env):
    with db.session_scope(url) as session:
        lead, _ = leads.save_lead(LEAD, session=session)
    return lead.id


def outbox_row(url) -> leads.Notification:
    with db.session_scope(url) as session:
        return session.query(leads.Notification).one()


def mail_env(port, **extra):
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "NOTIFY_EMAIL_TO": "sales@example.com",
        "SMTP_USER": "robot@example.com",
        "SMTP_PASSWORD": "smtp-password-secret",
        **extra,
    }


def test_f17_starttls_refuses_a_self_signed_certificate(url, certs, caplog):
    """F17: a man in the middle with a self-signed certificate gets neither the password nor the lead."""
    server = Smtp(certs["self_signed"], "starttls")
    try:
        env = mail_env(server.port, SMTP_STARTTLS="1")
        queue_mail(url, env)
        with caplog.at_level(logging.INFO, logger="notifier.worker"):
            assert notify.deliver_due(config_for(url, env)) == 0
        assert server.messages == [] and server.logins == []
        row = outbox_row(url)
        assert row.delivered_at is None and "SSLCertVerificationError" in row.last_error
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "SSLCertVerificationError" in logged
        assert "smtp-password-secret" not in logged + row.last_error and "13812345678" not in logged
    finally:
        server.stop()


def test_f17_starttls_with_a_trusted_ca_delivers(url, certs):
    """F17: the same server with a certificate from a CA the notifier trusts (SMTP_CA_FILE) gets the mail."""
    server = Smtp(certs["server"], "starttls")
    try:
        env = mail_env(server.port, SMTP_STARTTLS="1", SMTP_CA_FILE=certs["ca"])
        queue_mail(url, env)
        assert notify.deliver_due(config_for(url, env)) == 1
        [mail] = [email.message_from_string(m, policy=policy.default) for m in server.messages]
        assert "新线索" in mail["Subject"] and "13812345678" in mail.get_content()
        assert server.logins == [("robot@example.com", "smtp-password-secret")]
    finally:
        server.stop()


def test_f17_tls_is_the_default(url, certs):
    """F17: without SMTP_STARTTLS the notifier still insists on STARTTLS (verified)."""
    trusted = Smtp(certs["server"], "starttls")
    plain = Smtp(None, "plain")
    try:
        env = mail_env(trusted.port, SMTP_CA_FILE=certs["ca"])
        queue_mail(url, env)
        assert notify.deliver_due(config_for(url, env)) == 1 and len(trusted.messages) == 1
        with db.session_scope(url) as session:
            session.query(leads.Notification).delete()
        env = mail_env(plain.port)  # a server that offers no STARTTLS: nothing is sent in clear
        queue_mail(url, env)
        assert notify.deliver_due(config_for(url, env)) == 0
        assert plain.messages == [] and plain.logins == []
        assert "SMTPNotSupportedError" in outbox_row(url).last_error
    finally:
        trusted.stop()
        plain.stop()


def test_f17_smtp_ssl_port_465_style(url, certs):
    """F17: SMTP_SSL=1 speaks TLS from the first byte and verifies the certificate too."""
    evil = Smtp(certs["self_signed"], "ssl")
    good = Smtp(certs["server"], "ssl")
    try:
        env = mail_env(evil.port, SMTP_SSL="1")
        queue_mail(url, env)
        assert notify.deliver_due(config_for(url, env)) == 0 and evil.messages == [] and evil.logins == []
        with db.session_scope(url) as session:
            session.query(leads.Notification).update({"next_attempt_at": leads.utcnow()})
        env = mail_env(good.port, SMTP_SSL="1", SMTP_CA_FILE=certs["ca"])
        assert notify.deliver_due(config_for(url, env)) == 1 and len(good.messages) == 1
        assert good.logins == [("robot@example.com", "smtp-password-secret")]
    finally:
        evil.stop()
        good.stop()


def test_f17_a_password_is_never_sent_without_tls(url, caplog):
    """F17: SMTP_USER with TLS switched off is refused before connecting; a local relay without a user still works."""
    server = Smtp(None, "plain")
    try:
        env = mail_env(server.port, SMTP_STARTTLS="0")
        queue_mail(url, env)
        with pytest.raises(settings.SettingsError, match="SMTP_USER needs TLS"):
            config_for(url, env)  # the notifier stops at boot with this line
        assert server.logins == [] and server.messages == []
        relay = {k: v for k, v in env.items() if k not in ("SMTP_USER", "SMTP_PASSWORD")}
        assert notify.deliver_due(config_for(url, relay)) == 1 and len(server.messages) == 1
    finally:
        server.stop()


def test_f18_wecom_key_stays_out_of_the_outbox_and_the_log(url, caplog):
    """F18: an unreachable robot URL with ?key= is recorded as the error type only."""
    env = {"WECOM_WEBHOOK_URL": "http://127.0.0.1:9/cgi-bin/webhook/send?key=SUPERSECRET"}
    queue_mail(url, env)
    with caplog.at_level(logging.INFO, logger="notifier.worker"):
        notify.deliver_due(config_for(url, env))
    row = outbox_row(url)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ConnectionError" in row.last_error and "ConnectionError" in logged
    for text in (row.last_error, logged):
        assert "SUPERSECRET" not in text and "key=" not in text and "/cgi-bin" not in text


def endpoint(status: int = 200, body: dict | None = None) -> FakeEndpoint:
    """A local receiver answering ``status`` with ``body`` (WeCom's 「ok」 by default)."""
    return FakeEndpoint(lambda request: (status, body or {"errcode": 0, "errmsg": "ok"}))


class Receiver(FakeEndpoint):
    """A local webhook that fails the first ``failures`` requests with 503, then records their idempotency keys."""

    def __init__(self, failures: int):
        self.failures = failures
        self.keys: list[str] = []
        super().__init__(self._answer, path="/hook")

    def _answer(self, request: Request) -> Answer:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                return 503, None
        self.keys.append(request.json()["idempotency_key"])
        return 200, None


class FakeWeComRobot(FakeEndpoint):
    """A local 企业微信 group robot: answers errcode 45009 (rate limited) first, then records text messages."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.texts: list[str] = []
        super().__init__(self._answer, path="/cgi-bin/webhook/send?key=test")

    def _answer(self, request: Request) -> Answer:
        body = request.json()
        with self.lock:
            if self.refusals > 0:
                self.refusals -= 1
                return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}  # WeCom: errors in a 200
        assert body["msgtype"] == "text"
        self.texts.append(body["text"]["content"])
        return 200, {"errcode": 0, "errmsg": "ok"}


def test_f18_http_errors_keep_the_status_code_not_the_url(url):
    """F18: a 500 from the robot is recorded as the type and the status, without its URL."""
    robot = endpoint(status=500)
    try:
        env = {"WECOM_WEBHOOK_URL": robot.url + "/cgi-bin/webhook/send?key=SUPERSECRET"}
        queue_mail(url, env)
        notify.deliver_due(config_for(url, env))
        error = outbox_row(url).last_error
        assert "HTTPError" in error and "500" in error and "SUPERSECRET" not in error and "/cgi-bin" not in error
    finally:
        robot.close()


def test_f18_wecom_errmsg_is_not_stored(url):
    """F18: WeCom's own error text (which can echo the request) is reduced to its errcode."""
    robot = endpoint(body={"errcode": 93000, "errmsg": "invalid webhook url, hint: key=SUPERSECRET"})
    try:
        env = {"WECOM_WEBHOOK_URL": robot.url + "/cgi-bin/webhook/send?key=SUPERSECRET"}
        queue_mail(url, env)
        notify.deliver_due(config_for(url, env))
        error = outbox_row(url).last_error
        assert "93000" in error and "SUPERSECRET" not in error and "hint" not in error
    finally:
        robot.close()


def test_f01_f18_handoff_expiry_log_has_no_rasa_token(url, caplog):
    """F1, F18: Rasa unreachable while a handoff expires: the log line names the handoff, not the URL or token."""
    config = settings.load(
        {
            "DATABASE_URL": url,
            "RASA_URL": "http://127.0.0.1:9",
            "RASA_AUTH_TOKEN": "RASA-TOKEN-x1",
            "HANDOFF_CLAIM_TIMEOUT": "0",
        }
    )
    with db.session_scope(url) as session:
        handoffs.queue_handoff("x1", "rest", session=session)
    with caplog.at_level(logging.INFO, logger="notifier.worker"):
        assert notify.expire_handoffs(config) == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not expire handoff" in logged
    assert "RASA-TOKEN" not in logged and "token=" not in logged and "127.0.0.1:9" not in logged


@pytest.mark.parametrize("notifier", ["wecom", "webhook", "email"])
def test_f05_notifications_link_to_the_console_not_the_conversation(url, notifier):
    """F5: a WeCom group, mailbox or CRM reading the notification gets a console link, never the session id."""
    robot, sink, server = endpoint(), endpoint(), Smtp(None, "plain")
    env = {
        "wecom": {"WECOM_WEBHOOK_URL": robot.url + "/send?key=k"},
        "webhook": {"NOTIFY_WEBHOOK_URL": sink.url + "/leads"},
        "email": {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(server.port),
            "SMTP_STARTTLS": "0",
            "NOTIFY_EMAIL_TO": "sales@example.com",
        },
    }[notifier]
    env["CONSOLE_PUBLIC_URL"] = "https://assistant.example.com/"
    try:
        lead_id = queue_mail(url, env)
        assert notify.deliver_due(config_for(url, env)) == 1
        text = {
            "wecom": lambda: robot.requests[0].json()["text"]["content"],
            "webhook": lambda: json.dumps(sink.requests[0].json(), ensure_ascii=False),
            "email": lambda: email.message_from_string(server.messages[0], policy=policy.default).get_content(),
        }[notifier]()
        assert f"https://assistant.example.com/console/leads/{lead_id}" in text
        assert LEAD["conversation_id"] not in text
    finally:
        robot.close()
        sink.close()
        server.stop()


@pytest.mark.parametrize("conversation_id", ["dos/1", "x#", "a b", "访客"])
def test_s02_a_handoff_nobody_can_address_expires_instead_of_filling_the_queue(url, conversation_id):
    """S2: such rows were skipped every round and stayed queued for ever, counting against everyone's cap."""
    config = settings.load({"DATABASE_URL": url, "RASA_URL": "http://127.0.0.1:9", "HANDOFF_CLAIM_TIMEOUT": "0"})
    with db.session_scope(url) as session:
        handoffs.queue_handoff(conversation_id, "rest", session=session)
    assert notify.expire_handoffs(config) == 1
    with db.session_scope(url) as session:
        assert handoffs.open_handoff(conversation_id, session=session) is None
        assert session.query(handoffs.Handoff).filter(handoffs.Handoff.status == "queued").count() == 0


# ---------- the outbox: every lead once, after failures, and never twice


def test_outbox_delivers_every_lead_once_after_failures(url, monkeypatch):
    receiver = Receiver(failures=2)
    smtp = Smtp(None, "plain", failures=1)
    # a local relay without a login: cleartext must be asked for (TLS is the default, see the tests above)
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
        smtp.stop()
        receiver.close()


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
    receiver.close()


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
        robot.close()
