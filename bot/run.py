"""Start the whole assistant: facts, model, action server, Rasa and the web app.

Usage: ``python -m bot.run`` (what ``make run`` calls), or
``python -m bot.run --shell`` to talk to the bot in the terminal.

Loads/updates the facts database, trains the model if it is missing or
stale, then runs the action server, Rasa (REST and socket.io channels, HTTP
API behind a token) and the web app (widget demo page) until Ctrl-C or
SIGTERM, which stops all of them.
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

from bot import db, facts_loader, settings, train

ROOT = settings.PROJECT_ROOT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str | None
    process: subprocess.Popen | None = field(default=None, repr=False)
    restarts: list[float] = field(default_factory=list, repr=False)

    def start(self, env: dict) -> None:
        # own session: the launcher decides when children stop, not the terminal
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, start_new_session=True)

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
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def service_env(config: settings.Settings, token: str) -> dict:
    """Return the environment the services read (endpoints.yml uses these)."""
    env = dict(os.environ)
    env.update({
        "ACTION_PORT": str(config.action_port),
        "ACTION_ENDPOINT_URL": env.get("ACTION_ENDPOINT_URL") or f"http://127.0.0.1:{config.action_port}/webhook",
        "RASA_PORT": str(config.rasa_port),
        "DATABASE_URL": config.database_url,
        "TRACKER_STORE_URL": config.tracker_store_url,
        "RASA_AUTH_TOKEN": token,
        "WEB_PORT": str(config.web_port),
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    })
    if config.proxy_count:  # Sanic (Rasa) then reads the visitor's address from X-Forwarded-For
        env["SANIC_PROXIES_COUNT"] = str(config.proxy_count)
    return env


def services(config: settings.Settings, token: str, model: Path = train.MODEL_PATH) -> list[Service]:
    python = sys.executable
    actions = Service(
        "actions",
        [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(config.action_port)],
        f"http://127.0.0.1:{config.action_port}/health",
    )
    rasa = Service(
        "rasa",
        [python, "-m", "rasa", "run", "--model", str(model),
         "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml",
         "--port", str(config.rasa_port), "--enable-api", "--auth-token", token,
         *sum((["--cors", origin] for origin in config.cors_origins), [])],
        f"http://127.0.0.1:{config.rasa_port}/",
    )
    web = Service(
        "web",
        [python, "-m", "waitress", "--listen", f"{config.web_host}:{config.web_port}", "--threads", "8",
         "--call", "web:create_app"],
        f"http://127.0.0.1:{config.web_port}/healthz",
    )
    notifier = Service("notify", [python, "-m", "bot.notify"], None)
    return [actions, rasa, web, notifier]


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Stop()


MAX_RESTARTS = 3  # within RESTART_WINDOW seconds; more means it cannot start: give up
RESTART_WINDOW = 120


def supervise(running: list[Service], started: float, env: dict) -> int:
    """Wait until all services are ready; restart one that dies, unless it keeps dying."""
    announced = False
    while True:
        for service in running:
            if not service.alive():
                code = service.process.returncode
                now = time.monotonic()
                service.restarts = [t for t in service.restarts if now - t < RESTART_WINDOW]
                if len(service.restarts) >= MAX_RESTARTS:
                    print(f"{service.name} exited with code {code} {MAX_RESTARTS} times; stopping",
                          file=sys.stderr)
                    return code or 1
                service.restarts.append(now)
                print(f"{service.name} exited with code {code}; restarting", file=sys.stderr, flush=True)
                service.start(env)
        if not announced and all(s.ready() for s in running):
            announced = True
            print(f"ready in {time.monotonic() - started:.1f} s: " + ", ".join(
                f"{s.name} {s.ready_url.rsplit('/', 1)[0]}" for s in running if s.ready_url), flush=True)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shell", action="store_true", help="talk to the bot in this terminal")
    parser.add_argument("--no-train", action="store_true", help="fail instead of training a stale model")
    args = parser.parse_args(argv)
    started = time.monotonic()
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
        print(f"error: facts database {config.database_url!r} unavailable: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    # Rasa's SQL tracker store retries an unreachable database forever: check it here, once
    try:
        with db.get_engine(config.tracker_store_url).connect():
            pass
    except Exception as exc:
        print(f"error: tracker store {config.tracker_store_url!r} unavailable: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    model = Path(os.environ["RASA_MODEL"]) if os.environ.get("RASA_MODEL") else train.MODEL_PATH
    if os.environ.get("RASA_MODEL"):  # a model built elsewhere (CI, the benchmark): use it as it is
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
    token = config.rasa_auth_token
    if not token:
        token = secrets.token_urlsafe(24)
        print(f"RASA_AUTH_TOKEN was not set; generated one for this run: {token}", flush=True)
    env = service_env(config, token)
    running = services(config, token, model)
    if args.shell:
        running = running[:1]  # the shell runs Rasa itself
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    code = 0
    try:
        for service in running:
            service.start(env)
        if args.shell:
            shell = [sys.executable, "-m", "rasa", "shell", "--model", str(model),
                     "--endpoints", "bot/endpoints.yml"]
            code = subprocess.run(shell, cwd=ROOT, env=env).returncode
        else:
            code = supervise(running, started, env)
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
