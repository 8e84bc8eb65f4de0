"""Shared fixtures: a fresh facts database per test, and one running stack per run."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bot import db, facts_loader, migrate, settings
from bot.settings import PROJECT_ROOT

FACTS_DIR = PROJECT_ROOT / "data" / "facts"

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_for(database_url: str, env: dict) -> settings.Settings:
    """The settings a process would read from ``env``, on ``database_url``."""
    return settings.load({**env, "DATABASE_URL": database_url})


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test's processes read their settings anew (``settings.current()`` reads once per process)."""
    settings._current = None
    yield
    settings._current = None


@pytest.fixture
def empty_database(tmp_path) -> str:
    """A fresh SQLite database at the newest schema, with no rows."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def database_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite facts database loaded from data/facts, used by settings."""
    url = f"sqlite:///{tmp_path / 'facts.db'}"
    facts_loader.load_facts([FACTS_DIR], url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def session(database_url):
    with db.session_scope(database_url) as s:
        yield s


@dataclass
class Stack:
    """The running assistant: Rasa, action server and their databases."""

    rasa_url: str
    web_url: str
    token: str
    database_url: str
    tracker_store_url: str
    env: dict
    log: Path
    process: subprocess.Popen | None = None

    def say(self, sender: str, message: str, timeout: float = 30, trusted: bool = False) -> list[dict]:
        """Send as a visitor on the REST channel; ``trusted`` sends the Rasa token (payloads like /x@0.3 pass)."""
        headers = {"Authorization": f"Bearer {self.token}"} if trusted else {}
        response = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", headers=headers,
                                 json={"sender": sender, "message": message}, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def parse(self, message: str) -> dict:
        response = requests.post(f"{self.rasa_url}/model/parse", params={"token": self.token},
                                 json={"text": message}, timeout=30)
        response.raise_for_status()
        return response.json()


def _wait_ready(process: subprocess.Popen, urls: list[str], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stack exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if all(requests.get(url, timeout=2).status_code == 200 for url in urls):
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"stack not ready after {timeout} s:\n{log.read_text()[-4000:]}")


stack_process: dict = {}


WECHAT = {"WECHAT_TOKEN": "wechat-test-token", "WECHAT_APP_ID": "wx0123456789abcdef",
          "WECHAT_APP_SECRET": "test-secret", "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


@pytest.fixture(scope="session")
def fake_wechat():
    from tests.fake_wechat import FakeWeChat

    with FakeWeChat() as fake:
        yield fake


def launch(work: Path, fake_wechat_base: str, **extra: str) -> tuple[subprocess.Popen, Stack]:
    """Start `python -m bot.run --no-train` on free ports with databases under ``work`` (or ``extra``'s)."""
    rasa_port, action_port, web_port = free_port(), free_port(), free_port()
    token = extra.pop("RASA_AUTH_TOKEN", None) or "test-token-" + os.urandom(8).hex()
    env = dict(os.environ)
    env.update({
        "APP_ENV": "test",
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "WEB_PORT": str(web_port),
        "WEB_HOST": "127.0.0.1",
        "WIDGET_SECRET": "test-widget-secret",
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
        "RASA_PUBLIC_URL": f"http://127.0.0.1:{rasa_port}",
        **WECHAT,
        # staff are always on duty in tests; an unclaimed handoff expires quickly
        "BUSINESS_HOURS": "0-24",
        "BUSINESS_DAYS": "1,2,3,4,5,6,7",
        "HANDOFF_CLAIM_TIMEOUT": "8",
        # the whole suite comes from 127.0.0.1: a per-address limit for visitors would stop it
        "RATE_LIMIT_PER_IP": "5000",
        "RATE_LIMIT_PER_SENDER": "20",
        "NOTIFY_INTERVAL": "1",
        "WECHAT_API_BASE": fake_wechat_base,
        "RASA_AUTH_TOKEN": token,
        "ACTION_SERVER_TOKEN": extra.pop("ACTION_SERVER_TOKEN", None) or "test-action-token-" + os.urandom(8).hex(),
        "DATABASE_URL": f"sqlite:///{work / 'facts.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.db'}",
        **extra,
    })
    log = work / "stack.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot.run", "--no-train"], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return process, Stack(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{web_port}", token,
                          env["DATABASE_URL"], env["TRACKER_STORE_URL"], env, log, process)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (each service runs in its own session, so not by group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def stack_pids(stack: Stack) -> list[int]:
    """The launcher of ``stack`` and every process below it."""
    pids, todo = [], [stack.process.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(_children(pid))
    return pids


def service_pid(stack: Stack, service: str, timeout: float = 30) -> int | None:
    """The pid of ``service`` (rasa, actions, web, notifier) of this stack; waits while it is being restarted."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in _children(stack.process.pid):
            try:
                argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[1:4] == [b"-m", b"bot.serve", service.encode()]:
                return pid
        if time.monotonic() >= deadline:
            if timeout:
                raise AssertionError(f"no {service} process under the launcher {stack.process.pid}")
            return None
        time.sleep(0.2)


def wait_ready(process: subprocess.Popen, stack: Stack, timeout: float = 600) -> None:
    _wait_ready(process, [f"{stack.rasa_url}/", f"http://127.0.0.1:{stack.env['ACTION_PORT']}/health",
                          f"{stack.web_url}/healthz"], stack.log, timeout)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class WebhookSink:
    """A local JSON webhook receiving lead notifications; answers 503 while ``failing`` > 0."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.failing = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 200
                if sink.failing > 0:
                    sink.failing -= 1
                    status = 503
                else:
                    sink.received.append({"body": json.loads(body or b"{}"),
                                          "idempotency_key": self.headers.get("Idempotency-Key")})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/leads"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture(scope="session")
def webhook_sink():
    sink = WebhookSink()
    yield sink
    sink.server.shutdown()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, fake_wechat, webhook_sink) -> Stack:
    """Start `python -m bot.run` once for the whole test run, on free ports."""
    process, running = launch(tmp_path_factory.mktemp("stack"), fake_wechat.base,
                              NOTIFY_WEBHOOK_URL=webhook_sink.url)
    stack_process["process"] = process
    try:
        wait_ready(process, running)
        yield running
    finally:
        stop(process)
