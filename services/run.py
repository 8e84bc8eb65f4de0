"""Start the whole assistant: facts, model, action server, Rasa and the web app.

Usage: ``python -m services.run`` (what ``make run`` calls), or
``python -m services.run --shell`` to talk to the bot in the terminal.

Loads/updates the facts database, trains the model if it is missing or
stale, then runs the action server, Rasa (REST and socket.io channels, HTTP
API behind a token), the web app (widget demo page) and the notifier, each
through ``python -m services.serve``, until Ctrl-C or SIGTERM, which stops all of
them. Files it creates (var/, SQLite databases, secrets) are private to the
user (umask 077); each service gets only the secrets it uses; one that keeps
crashing is restarted with back-off while the others go on serving.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn

from bot import db, quiet, settings
from bot.facts_files import loader as facts_loader
from tools import train

ROOT = settings.PROJECT_ROOT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str | None
    env: dict[str, str] = field(default_factory=dict, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    restarts: list[float] = field(default_factory=list, repr=False)
    restart_at: float | None = field(default=None, repr=False)

    def start(self) -> None:
        # own session: the launcher decides when children stop, not the terminal
        self.restart_at = None
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        if self.ready_url is None:
            return self.alive()
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def reachable(host: str) -> str:
    """The address at which this machine reaches a server listening on ``host``."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def service_env(config: settings.Settings, secrets_: dict[str, str], service: str) -> dict[str, str]:
    """Return the environment ``service`` runs with: the settings, and of ``secrets_`` only its own."""
    env = {name: value for name, value in os.environ.items() if name not in settings.PRIVATE}
    env.update(
        {
            "ACTION_PORT": str(config.action_port),
            "ACTION_ENDPOINT_URL": config.action_endpoint_url
            or f"http://{reachable(config.action_host)}:{config.action_port}/webhook",
            "RASA_PORT": str(config.rasa_port),
            "DATABASE_URL": config.database_url,
            "TRACKER_STORE_URL": config.tracker_store_url,
            "WEB_PORT": str(config.web_port),
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        }
    )
    if config.proxy_count:  # Sanic (Rasa) then reads the visitor's address from X-Forwarded-For
        env["SANIC_PROXIES_COUNT"] = str(config.proxy_count)
    own = settings.SERVICE_SECRETS.get(service, ())
    env.update({name: value for name, value in secrets_.items() if value and name in own})
    return env


def service_secrets(config: settings.Settings) -> dict[str, str]:
    """The secrets of this run: the environment's, the rest generated (tokens) or kept in var/ (web secrets)."""
    found = {name: os.environ.get(name, "") for name in settings.PRIVATE}
    found.update(
        {
            "RASA_AUTH_TOKEN": config.rasa_auth_token or secrets.token_urlsafe(24),
            "ACTION_SERVER_TOKEN": config.action_server_token or secrets.token_urlsafe(32),
            # the web app and Rasa (the widget's session tokens) must share the same widget secret
            "WIDGET_SECRET": config.widget_secret or settings.development_secret("widget"),
            "CONSOLE_SECRET": config.console_secret or settings.development_secret("console"),
        }
    )
    return found


def services(config: settings.Settings, secrets_: dict[str, str], model: Path = train.MODEL_PATH) -> list[Service]:
    serve = [sys.executable, "-m", "services.serve"]
    running = [
        Service("actions", [*serve, "actions"], f"http://{reachable(config.action_host)}:{config.action_port}/health"),
        Service("rasa", [*serve, "rasa", "--model", str(model)], f"http://127.0.0.1:{config.rasa_port}/"),
        Service("web", [*serve, "web"], f"http://{reachable(config.web_host)}:{config.web_port}/healthz"),
        Service("notifier", [*serve, "notifier"], None),
    ]
    for service in running:
        service.env = service_env(config, secrets_, service.name)
    return running


def private_files() -> None:
    """Make what the launcher creates private to this user; tighten var/ left readable by older versions."""
    os.umask(0o077)
    var = ROOT / "var"
    try:
        if var.is_dir():
            var.chmod(0o700)
            for path in var.iterdir():
                if path.is_file():
                    path.chmod(0o600)
    except OSError as exc:  # e.g. made by another user: say so, the services still start
        print(f"warning: could not make var/ private: {exc.strerror}: {exc.filename}", file=sys.stderr)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> NoReturn:  # noqa: ARG001 - signal handler signature
    raise _Stop()


MAX_RESTARTS = 3  # within RESTART_WINDOW seconds, before the stack was ever ready: it cannot start, give up
RESTART_WINDOW = 120
MAX_BACKOFF = 60  # once the stack has served, a service that keeps crashing is retried at most this far apart


def backoff(crashes: int) -> float:
    """Seconds to wait before restarting a service that crashed ``crashes`` times within RESTART_WINDOW."""
    if crashes <= MAX_RESTARTS:
        return 0
    return min(MAX_BACKOFF, 2.0 ** (crashes - MAX_RESTARTS))


def tend(service: Service, now: float, served: bool) -> int | None:
    """Restart ``service`` if it died (after its back-off); return an exit code to stop the stack with."""
    if service.alive():
        return None
    if service.restart_at is None:
        # no process: not started yet (supervise starts every service first), so no exit code either
        code = service.process.returncode if service.process is not None else None
        service.restarts = [t for t in service.restarts if now - t < RESTART_WINDOW] + [now]
        crashes = len(service.restarts)
        if crashes > MAX_RESTARTS and not served:
            print(f"{service.name} exited with code {code} {MAX_RESTARTS} times; stopping", file=sys.stderr, flush=True)
            return code or 1
        delay = backoff(crashes)
        service.restart_at = now + delay
        print(
            f"{service.name} exited with code {code}; restarting"
            + (
                f" in {delay:.0f} s ({crashes} exits in {RESTART_WINDOW} s; the other services keep running)"
                if delay
                else ""
            ),
            file=sys.stderr,
            flush=True,
        )
    if now >= service.restart_at:
        service.start()
    return None


def supervise(running: list[Service], started: float, open_at: str = "") -> int:
    """Wait until all services are ready; restart one that dies, backing off if it keeps dying."""
    announced = False
    while True:
        for service in running:
            code = tend(service, time.monotonic(), announced)
            if code is not None:
                return code
        if not announced and all(s.ready() for s in running):
            announced = True
            print(
                f"ready in {time.monotonic() - started:.1f} s: "
                + ", ".join(f"{s.name} {s.ready_url.rsplit('/', 1)[0]}" for s in running if s.ready_url),
                flush=True,
            )
            if open_at:
                print(f"open {open_at}/ to chat with the assistant, {open_at}/console for staff", flush=True)
        time.sleep(0.5)


def _unavailable(url: str, exc: Exception) -> str:
    """Which database failed and why, in one line, without its password (the terminal may be shared: S6)."""
    reason = str(exc).splitlines()[0] if str(exc) else ""
    return f"{db.safe_url(url)!r} unavailable: {type(exc).__name__}: {db.without_password(reason, url)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shell", action="store_true", help="talk to the bot in this terminal")
    parser.add_argument("--no-train", action="store_true", help="fail instead of training a stale model")
    args = parser.parse_args(argv)
    quiet.install()
    started = time.monotonic()
    private_files()
    try:
        config = settings.load()
    except settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(facts_loader.load_facts([ROOT / "data" / "facts"], config.database_url).summary())
    except facts_loader.FactsFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # unreachable database: one line, not a traceback loop
        print(f"error: facts database {_unavailable(config.database_url, exc)}", file=sys.stderr)
        return 1
    # Rasa's SQL tracker store retries an unreachable database forever: check it here, once
    try:
        with db.get_engine(config.tracker_store_url).connect():
            pass
    except Exception as exc:
        print(f"error: tracker store {_unavailable(config.tracker_store_url, exc)}", file=sys.stderr)
        return 1
    model = Path(config.rasa_model) if config.rasa_model else train.MODEL_PATH
    if config.rasa_model:  # a model built elsewhere (CI, the benchmark): use it as it is
        if not model.is_file():
            print(f"error: RASA_MODEL {str(model)!r} is not a file", file=sys.stderr)
            return 1
    elif train.is_stale():
        if args.no_train:
            print("error: the model is missing or stale; run make train", file=sys.stderr)
            return 1
        try:
            train.train()
        except subprocess.CalledProcessError as exc:
            print(f"error: training failed (exit code {exc.returncode})", file=sys.stderr)
            return 1
    found = service_secrets(config)
    if not config.rasa_auth_token:
        print(f"RASA_AUTH_TOKEN was not set; generated one for this run: {found['RASA_AUTH_TOKEN']}", flush=True)
    running = services(config, found, model)
    if args.shell:
        running = running[:1]  # the shell runs Rasa itself
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    code = 0
    try:
        for service in running:
            service.start()
        if args.shell:
            shell = [sys.executable, "-m", "rasa", "shell", "--model", str(model), "--endpoints", "bot/endpoints.yml"]
            code = subprocess.run(shell, cwd=ROOT, env=service_env(config, found, "rasa")).returncode
        else:
            code = supervise(running, started, f"http://{reachable(config.web_host)}:{config.web_port}")
    except (_Stop, KeyboardInterrupt):
        print("stopping…", flush=True)
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        for service in reversed(running):
            service.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
