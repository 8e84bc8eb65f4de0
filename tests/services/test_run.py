"""The launcher refuses to start against unreachable databases, with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import PROJECT_ROOT


@pytest.mark.parametrize("variable, name", [("DATABASE_URL", "facts database"), ("TRACKER_STORE_URL", "tracker store")])
def test_unreachable_database_is_a_clear_error(tmp_path, variable, name):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'facts.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        variable: "postgresql://nobody:secret@127.0.0.1:9/absent?connect_timeout=2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.run", "--no-train"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"error: {name}" in result.stderr and "unavailable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variable", ["DATABASE_URL", "TRACKER_STORE_URL"])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody:Pa55-w0rd-S6@127.0.0.1:9/absent?connect_timeout=2",
        "postgresql+nodriver://nobody:Pa55-w0rd-S6@127.0.0.1:9/absent",  # the error quotes what it cannot load
    ],
)
def test_s06_the_launcher_never_prints_a_database_password(tmp_path, variable, url):
    """S6: the launcher printed the whole URL, password included, when a database was unreachable."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'facts.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        variable: url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.run", "--no-train"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "unavailable" in result.stderr
    assert "Pa55-w0rd-S6" not in result.stderr + result.stdout
    assert "nobody:***@127.0.0.1:9" in result.stderr  # which database it was is still said


def test_s06_a_redis_url_with_the_wrong_scheme_is_refused_without_its_password():
    """S6: the lock store's refusal quoted REDIS_URL whole."""
    from bot import settings
    from bot.plugins import lock_store

    with pytest.raises(settings.SettingsError) as refused:
        lock_store.LockStore(redis_url="http://:Pa55-w0rd-S6@127.0.0.1:6379/0")
    assert "Pa55-w0rd-S6" not in str(refused.value)


def _config(**env):
    from bot import settings

    return settings.load({"DATABASE_URL": "sqlite:///x.db", **env})


SECRETS = {
    "RASA_AUTH_TOKEN": "rasa-token",
    "ACTION_SERVER_TOKEN": "action-token",
    "WIDGET_SECRET": "widget",
    "CONSOLE_SECRET": "console",
    "WECHAT_APP_SECRET": "wechat",
    "SMTP_PASSWORD": "smtp",
    "WECOM_WEBHOOK_URL": "https://qyapi.example/send?key=robot",
}


def test_each_service_gets_only_its_own_secrets(monkeypatch):
    """F15: least privilege in the launcher's environments, even for secrets set in the parent's environment."""
    from services import run

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = _config()
    held = {
        service.name: {name for name, value in SECRETS.items() if value in service.env.values()}
        for service in run.services(config, SECRETS)
    }
    assert held == {
        "rasa": {"RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN", "WIDGET_SECRET", "WECHAT_APP_SECRET"},
        "actions": {"ACTION_SERVER_TOKEN"},  # it queues "notify staff"; the notifier alone knows the channels
        "web": {"RASA_AUTH_TOKEN", "WIDGET_SECRET", "CONSOLE_SECRET"},
        "notifier": {"RASA_AUTH_TOKEN", "SMTP_PASSWORD", "WECOM_WEBHOOK_URL"},
    }


def test_rasa_reaches_the_action_server_where_it_listens(monkeypatch):
    """ACTION_HOST moves the action server; Rasa's ACTION_ENDPOINT_URL and the readiness check follow it."""
    from services import run

    monkeypatch.delenv("ACTION_ENDPOINT_URL", raising=False)
    for host, address in (("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")):
        actions = run.services(_config(ACTION_HOST=host, ACTION_PORT="5099"), SECRETS)[0]
        assert actions.env["ACTION_ENDPOINT_URL"] == f"http://{address}:5099/webhook"
        assert actions.ready_url == f"http://{address}:5099/health"


def test_no_secret_on_a_service_command_line():
    """N3: the services' argv carry names and paths only; secrets travel in their environments."""
    from services import run

    for service in run.services(_config(), SECRETS):
        assert service.command[1:4] == ["-m", "services.serve", service.name]
        assert not [value for value in SECRETS.values() if value in " ".join(service.command)]


def test_development_secrets_are_generated_and_shared(monkeypatch, tmp_path):
    """The tokens are made per run when unset; Rasa and the web app share the widget secret kept in var/."""
    from bot import settings
    from services import run

    monkeypatch.setattr(settings, "DEVELOPMENT_SECRETS", tmp_path / "var")
    for name in settings.PRIVATE:
        monkeypatch.delenv(name, raising=False)
    found = run.service_secrets(_config())
    assert len(found["RASA_AUTH_TOKEN"]) >= 32 and len(found["ACTION_SERVER_TOKEN"]) >= 40
    assert found["WIDGET_SECRET"] == (tmp_path / "var" / "widget.secret").read_text()
    again = run.service_secrets(_config())
    assert again["WIDGET_SECRET"] == found["WIDGET_SECRET"] and again["CONSOLE_SECRET"] == found["CONSOLE_SECRET"]
    assert again["ACTION_SERVER_TOKEN"] != found["ACTION_SERVER_TOKEN"]


def _dying(code: int):
    from services import run

    service = run.Service("flaky", [sys.executable, "-c", f"import sys; sys.exit({code})"], None, env=dict(os.environ))
    service.start()
    service.process.wait()
    return service


def test_a_service_that_cannot_start_stops_the_stack(capsys):
    """Before the stack has served, a fourth exit within the window is a configuration problem: stop."""
    from services import run

    service = _dying(3)
    now = 1000.0
    for _ in range(run.MAX_RESTARTS):
        assert run.tend(service, now, served=False) is None
        service.process.wait()
        now += 1
    assert run.tend(service, now, served=False) == 3
    assert "exited with code 3 3 times; stopping" in capsys.readouterr().err


def test_a_service_that_keeps_crashing_after_serving_is_retried_with_back_off(capsys):
    """F11: once the stack has served, crashes never stop it: restarts wait 2, 4, … up to 60 s, and say so."""
    from services import run

    assert [run.backoff(n) for n in range(1, 12)] == [0, 0, 0, 2, 4, 8, 16, 32, 60, 60, 60]
    service = _dying(9)
    now = 1000.0
    for _ in range(run.MAX_RESTARTS):  # the first restarts are immediate
        assert run.tend(service, now, served=True) is None
        assert service.restart_at is None
        service.process.wait()
    first = service.process.pid
    assert run.tend(service, now, served=True) is None  # the fourth exit: wait 2 s
    assert service.restart_at == now + 2 and service.process.pid == first
    assert run.tend(service, now + 1, served=True) is None and service.process.pid == first
    assert run.tend(service, now + 2, served=True) is None and service.process.pid != first
    service.process.wait()
    assert run.tend(service, now + 2, served=True) is None and service.restart_at == now + 2 + 4
    err = capsys.readouterr().err
    assert "flaky exited with code 9; restarting in 2 s" in err and "restarting in 4 s" in err
    assert "stopping" not in err
