"""Attacks on the processes of a running stack: the action server, body sizes, argv, environments, files.

Each service is found through the launcher of the test stack (its children), never by name, so
stacks of other checkouts on the same machine are left alone.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import uuid
import zlib
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from bot import db, settings
from bot.store import leads
from tests.support.stack import service_pid, stack_pids

SECRET_NAMES = (
    "RASA_AUTH_TOKEN",
    "ACTION_SERVER_TOKEN",
    "WIDGET_SECRET",
    "CONSOLE_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_APP_SECRET",
    "WECHAT_AES_KEY",
)


def action_url(stack, path: str = "/webhook") -> str:
    return f"http://127.0.0.1:{stack.env['ACTION_PORT']}{path}"


def rasa_auth(stack) -> dict:
    return {"Authorization": f"Bearer {stack.env['ACTION_SERVER_TOKEN']}"}


def forged_lead(sender: str) -> dict:
    """The review's forged action call: a lead with a made-up phone, forced consent and a formula name."""
    return {
        "next_action": "action_submit_lead",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "events": [],
            "latest_message": {},
            "slots": {
                "lead_consent": True,
                "lead_name": "=1+1",
                "lead_phone": "not-a-phone",
                "lead_company": "Forged Ltd",
                "lead_region": "x",
                "lead_licence": "全网",
                "lead_note": "injected",
            },
        },
    }


def answer_call() -> dict:
    """What Rasa sends to answer 「注册资本要多少」: a harmless, legitimate action call."""
    message = {"text": "注册资本要多少", "intent": {"name": "ask_capital", "confidence": 1.0}, "entities": []}
    return {
        "next_action": "action_answer_fact",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": f"legit-{uuid.uuid4().hex}",
            "slots": {},
            "latest_message": message,
            "events": [{"event": "user", "text": message["text"], "parse_data": message}],
        },
    }


def stored_leads(stack, sender: str) -> list:
    with db.session_scope(stack.database_url) as session:
        return session.query(leads.Lead).filter(leads.Lead.conversation_id == sender).all()


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM) in bytes: it records even a moment's allocation."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def announce_big_body(host: str, port: int, path: str, size: int, headers: dict, wait: float = 10) -> str:
    """Announce a ``size`` body, send only its first 64 KB, and return the status line the server answers with.

    A server that refuses at the announced size answers at once; one that buffers first waits for
    the rest (here: until ``wait`` runs out, returning "")."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {size}",
        *(f"{name}: {value}" for name, value in headers.items()),
        "",
        "",
    ]
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall("\r\n".join(head).encode() + b"{" + b" " * (64 * 1024))
        try:
            answer = sock.recv(4096)
        except (TimeoutError, ConnectionResetError):
            return ""
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def test_f02_unauthenticated_action_calls_are_refused_and_store_nothing(stack):
    """F2, N10: a forged action call without the token, with a wrong one, or as text/plain gets nothing done."""
    sender = f"forged-{uuid.uuid4().hex}"
    body = json.dumps(forged_lead(sender))
    anonymous = requests.post(action_url(stack), data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert anonymous.status_code == 401
    wrong = requests.post(
        action_url(stack),
        data=body,
        timeout=10,
        headers={"Content-Type": "application/json", "Authorization": "Bearer guessed-token"},
    )
    assert wrong.status_code == 403
    as_query = requests.post(
        action_url(stack),
        data=body,
        params={"token": stack.env["ACTION_SERVER_TOKEN"]},
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert as_query.status_code == 401
    # the browser "simple request" of N10: text/plain, even with the right token, is not parsed
    plain = requests.post(
        action_url(stack), data=body, timeout=10, headers={"Content-Type": "text/plain", **rasa_auth(stack)}
    )
    assert plain.status_code == 415
    for refused in (anonymous, wrong, as_query, plain):
        assert "lead" not in refused.text and "Forged" not in refused.text and "Traceback" not in refused.text
    assert requests.get(action_url(stack, "/actions"), timeout=10).status_code == 401
    assert stored_leads(stack, sender) == []


def test_f02_rasa_with_the_token_still_runs_actions(stack):
    """F2: the caller holding ACTION_SERVER_TOKEN (Rasa, via endpoints.yml) is served, plain or deflated."""
    listed = requests.get(action_url(stack, "/actions"), headers=rasa_auth(stack), timeout=10)
    assert listed.status_code == 200 and {"name": "action_submit_lead"} in listed.json()
    plain = requests.post(action_url(stack), json=answer_call(), headers=rasa_auth(stack), timeout=30)
    assert plain.status_code == 200, plain.text
    assert plain.json()["responses"][0]["response"] == "utter_fact"
    packed = requests.post(
        action_url(stack),
        data=zlib.compress(json.dumps(answer_call()).encode()),
        timeout=30,
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate", **rasa_auth(stack)},
    )
    assert packed.status_code == 200, packed.text
    assert packed.json()["responses"][0]["response"] == "utter_fact"
    # and the whole path: a visitor's question answered by a custom action through Rasa
    assert "1000万" in stack.text(f"legit-{uuid.uuid4().hex}", "注册资本要多少")


def test_f02_deflate_bomb_is_refused_without_the_action_server_growing(stack):
    """F2: 400 MB of zeros in 400 KB of deflate gets 413 (or 401 without the token), not 400 MB of memory."""
    pid = service_pid(stack, "actions")
    before = peak_rss(pid)
    packer, mib = zlib.compressobj(9), b"\0" * (1024 * 1024)
    bomb = b"".join(packer.compress(mib) for _ in range(400)) + packer.flush()
    assert len(bomb) < 1024 * 1024  # small enough to pass the raw body limit: only the inflated size is refused
    headers = {"Content-Type": "application/json", "Content-Encoding": "deflate"}
    anonymous = requests.post(action_url(stack), data=bomb, headers=headers, timeout=60)
    assert anonymous.status_code == 401
    holder = requests.post(action_url(stack), data=bomb, headers={**headers, **rasa_auth(stack)}, timeout=60)
    assert holder.status_code == 413
    assert peak_rss(pid) - before < 64 * 1024 * 1024
    other = requests.post(
        action_url(stack),
        data=b"{}",
        timeout=10,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip", **rasa_auth(stack)},
    )
    assert other.status_code == 415
    assert requests.get(action_url(stack, "/health"), timeout=10).status_code == 200


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_f02_action_server_listens_on_loopback_only(stack):
    """F2: the action server is bound to 127.0.0.1 (ACTION_HOST), so nothing off this machine reaches it."""
    addresses = _listening(int(stack.env["ACTION_PORT"]))
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1 in /proc's little-endian hex


@pytest.mark.parametrize(
    "service, path, headers",
    [
        ("rasa", "/webhooks/rest/webhook", {"Content-Type": "application/json"}),
        ("actions", "/webhook", {"Content-Type": "application/json"}),
        ("web", "/api/feedback", {"Content-Type": "application/json"}),
    ],
)
def test_f11_an_announced_90_mb_body_is_refused_before_it_is_read(stack, service, path, headers):
    """F11: 413 as soon as 90 MB are announced (after 64 KB sent), and the server's memory does not grow."""
    port = {"rasa": stack.rasa_url, "actions": action_url(stack), "web": stack.web_url}[service]
    port = int(port.rsplit(":", 1)[1].split("/")[0])
    if service == "actions":
        headers = {**headers, **rasa_auth(stack)}
    pid = service_pid(stack, service)
    before = peak_rss(pid)
    status = announce_big_body("127.0.0.1", port, path, 90_000_000, headers)
    assert " 413 " in status + " ", f"{service} answered {status!r} instead of 413 at once"
    assert peak_rss(pid) - before < 32 * 1024 * 1024


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def _environ(pid: int) -> dict:
    pairs = (
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
        if "=" in item
    )
    return dict(pairs)


def _secrets(stack) -> dict:
    return {name: stack.env[name] for name in SECRET_NAMES if stack.env.get(name)}


def test_n03_no_secret_is_on_any_command_line_of_the_stack(stack):
    """N3, F15: `ps` (any local user) shows no token or secret in the argv of the launcher or a service."""
    pids = stack_pids(stack)
    assert len(pids) >= 5  # the launcher and its four services
    values = _secrets(stack)
    assert {"RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "WIDGET_SECRET"} <= set(values)
    for pid in pids:
        argv = " ".join(_cmdline(pid))
        assert "--auth-token" not in argv
        leaked = [name for name, value in values.items() if value in argv]
        assert not leaked, f"{leaked} in the command line of {argv[:80]!r}"


def test_f15_each_service_gets_only_the_secrets_it_uses(stack):
    """F15: least privilege: the action server holds no Rasa, widget or console secret, and so on."""
    allowed = {
        "rasa": {
            "RASA_AUTH_TOKEN",
            "ACTION_SERVER_TOKEN",
            "WIDGET_SECRET",
            "WECHAT_TOKEN",
            "WECHAT_APP_SECRET",
            "WECHAT_AES_KEY",
        },
        "actions": {"ACTION_SERVER_TOKEN"},
        "web": {"RASA_AUTH_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET"},
        "notifier": {"RASA_AUTH_TOKEN"},
    }
    values = _secrets(stack)
    for service, names in allowed.items():
        environ = _environ(service_pid(stack, service))
        held = {name for name, value in values.items() if value in environ.values()}
        assert held <= names, f"{service} holds {held - names}"
    assert "ACTION_SERVER_TOKEN" in _environ(service_pid(stack, "actions"))
    assert "CONSOLE_SECRET" in _environ(service_pid(stack, "web"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_f15_databases_and_secret_files_are_private(stack, tmp_path, monkeypatch):
    """F15, N3: the SQLite databases, var/ and the secret files in it are readable by this user only."""
    for url in (stack.database_url, stack.tracker_store_url):
        path = Path(make_url(url).database)
        assert path.exists() and _mode(path) == 0o600, f"{path.name}: {oct(_mode(path))}"
    # the test stack is given its secrets (nothing of a test goes into the checkout): the development
    # secrets are made where the launcher keeps them, here a folder of this test's own
    monkeypatch.setattr(settings, "DEVELOPMENT_SECRETS", tmp_path / "var")
    old = os.umask(0o022)
    try:
        settings.development_secret("console")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "var") == 0o700 and _mode(tmp_path / "var" / "console.secret") == 0o600
