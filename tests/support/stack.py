"""The whole assistant (`python -m services.run --no-train`) on free ports, and its processes found by PID.

Shared by the test fixtures (tests/conftest.py) and the load benchmark (bench/load.py). Every process of a
stack descends from its launcher: tests that kill a service find it under their own launcher's PID, never by
a name that would match another stack on the machine.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests

from bot.settings import PROJECT_ROOT
from tests.support.fake_wecom_kf import KF
from tests.support.waiting import eventually
from tests.support.wechat import WECHAT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    rasa: int
    action: int
    web: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port())


@dataclass
class Stack:
    """The running assistant: launcher, Rasa, action server, web app and notifier, and their databases."""

    rasa_url: str
    web_url: str
    token: str
    database_url: str
    tracker_store_url: str
    env: dict
    log: Path
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ACTION_PORT']}"

    @property
    def health_urls(self) -> list[str]:
        """What answers 200 once each service is up."""
        return [f"{self.rasa_url}/", f"{self.action_url}/health", f"{self.web_url}/healthz"]

    def say(self, sender: str, message: str, timeout: float = 30, trusted: bool = False) -> list[dict]:
        """Send as a visitor on the REST channel; ``trusted`` sends the Rasa token (payloads like /x@0.3 pass)."""
        headers = {"Authorization": f"Bearer {self.token}"} if trusted else {}
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            headers=headers,
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json()

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def log_settled(self, timeout: float = 30) -> None:
        """Wait until Rasa has logged a request made now, so the lines of every earlier request are in the log.

        The probe is a REST message for a widget conversation without its token, which Rasa refuses with a
        warning naming the id's first characters.
        """
        probe = secrets.token_hex(16)
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": probe, "message": "probe"}, timeout=timeout
        )
        assert response.status_code == 403
        line = f"REST message for widget conversation {probe[:6]}"
        eventually(lambda: line in self.log.read_text(errors="replace"), timeout)

    def parse(self, message: str) -> dict:
        response = requests.post(
            f"{self.rasa_url}/model/parse", params={"token": self.token}, json={"text": message}, timeout=30
        )
        response.raise_for_status()
        return response.json()


def start(work: Path, env: dict[str, str | None], ports: Ports | None = None) -> Stack:
    """Start `python -m services.run --no-train` on ``ports`` (free ones by default) with SQLite databases under
    ``work``; ``env`` adds to the environment and overrides these defaults (None: left unset). Does not wait."""
    ports = ports or Ports.free()
    given = {
        **os.environ,
        "RASA_PORT": str(ports.rasa),
        "ACTION_PORT": str(ports.action),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports.action}/webhook",
        "WEB_PORT": str(ports.web),
        "WEB_HOST": "127.0.0.1",
        "RASA_AUTH_TOKEN": secrets.token_hex(12),
        "DATABASE_URL": f"sqlite:///{work / 'facts.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.db'}",
        **env,
    }
    full = {name: value for name, value in given.items() if value is not None}
    log = work / "stack.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.run", "--no-train"],
            cwd=PROJECT_ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Stack(
        f"http://127.0.0.1:{ports.rasa}",
        f"http://127.0.0.1:{ports.web}",
        full["RASA_AUTH_TOKEN"],
        full["DATABASE_URL"],
        full["TRACKER_STORE_URL"],
        full,
        log,
        process,
    )


def launch(work: Path, fake_wechat_base: str, **extra: str) -> Stack:
    """Start a stack configured for the tests: staff always on duty, WeChat's API at ``fake_wechat_base``
    (and the 微信客服 channel on when ``WECOM_KF_API_BASE`` names a fake of its API)."""
    ports = Ports.free()
    kf = KF if extra.get("WECOM_KF_API_BASE") else {}
    return start(
        work,
        {
            "APP_ENV": "test",
            # both web secrets given: the launcher keeps none in the checkout's var/
            "WIDGET_SECRET": "test-widget-secret",
            "CONSOLE_SECRET": "test-console-secret",
            "CORS_ORIGINS": f"http://127.0.0.1:{ports.web},http://localhost:{ports.web}",
            "RASA_PUBLIC_URL": f"http://127.0.0.1:{ports.rasa}",
            **WECHAT,
            **kf,
            # staff are always on duty in tests; an unclaimed handoff expires quickly
            "BUSINESS_HOURS": "0-24",
            "BUSINESS_DAYS": "1,2,3,4,5,6,7",
            "HANDOFF_CLAIM_TIMEOUT": "8",
            # the whole suite comes from 127.0.0.1: a per-address limit for visitors would stop it
            "RATE_LIMIT_PER_IP": "5000",
            "HANDOFF_MAX_PER_ADDRESS": "1000",
            "RATE_LIMIT_PER_SENDER": "20",
            "NOTIFY_INTERVAL": "1",
            "WECHAT_API_BASE": fake_wechat_base,
            "RASA_AUTH_TOKEN": extra.pop("RASA_AUTH_TOKEN", "") or "test-token-" + os.urandom(8).hex(),
            "ACTION_SERVER_TOKEN": extra.pop("ACTION_SERVER_TOKEN", "") or "test-action-token-" + os.urandom(8).hex(),
            **extra,
        },
        ports,
    )


def wait_ready(stack: Stack, timeout: float = 600) -> float:
    """Wait until every service of ``stack`` answers; return the seconds since it was started."""
    deadline = stack.started + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(f"stack exited with {stack.process.returncode}:\n{_tail(stack)}")
        try:
            if all(requests.get(url, timeout=2).status_code == 200 for url in stack.health_urls):
                return time.monotonic() - stack.started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"stack not ready after {timeout} s:\n{_tail(stack)}")


def _tail(stack: Stack) -> str:
    return stack.log.read_text(errors="replace")[-4000:]


def stop(stack: Stack) -> None:
    """SIGTERM to the launcher (it stops its services); SIGKILL to its whole session after a minute."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()


@contextmanager
def running(work: Path, fake_wechat_base: str, **extra: str) -> Iterator[Stack]:
    """A test stack (see ``launch``), ready, stopped on the way out."""
    stack = launch(work, fake_wechat_base, **extra)
    try:
        wait_ready(stack)
        yield stack
    finally:
        stop(stack)


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
            if argv[1:4] == [b"-m", b"services.serve", service.encode()]:
                return pid
        if time.monotonic() >= deadline:
            if timeout:
                raise AssertionError(f"no {service} process under the launcher {stack.process.pid}")
            return None
        time.sleep(0.2)
