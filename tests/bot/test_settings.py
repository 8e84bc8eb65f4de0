"""Settings come from the environment; production has no secret defaults."""

import os

import pytest

from bot import settings


def test_development_defaults_use_sqlite_under_var():
    config = settings.load({})
    assert config.database_url.endswith("/var/facts.db")
    assert config.tracker_store_url.endswith("/var/tracker.db")
    assert (config.rasa_port, config.action_port) == (5005, 5055)


def test_production_requires_secrets():
    with pytest.raises(
        settings.SettingsError,
        match="DATABASE_URL, RASA_AUTH_TOKEN, ACTION_SERVER_TOKEN, WIDGET_SECRET, CONSOLE_SECRET",
    ):
        settings.load({"APP_ENV": "production"})
    config = settings.load(PRODUCTION)
    assert config.production and config.action_server_token == STRONG["ACTION_SERVER_TOKEN"]


STRONG = {name: f"{i}9f1c2e7ab34d5f60718293a4b5c6d7e8" for i, name in enumerate(settings.SECRETS)}
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "sqlite://", **STRONG}


@pytest.mark.parametrize("name", settings.SECRETS)
@pytest.mark.parametrize(
    "value",
    [
        "c",
        "a-guessable-console-secret",  # 26 characters
        "x" * 40,  # long, but one character
        "change-me-change-me-change-me-change-me",
        "please-replace-this-example-secret-value-0001",
    ],
)
def test_s05_production_refuses_a_weak_secret(name, value):
    """S5: a guessable CONSOLE_SECRET let anyone sign an admin cookie; production now refuses weak secrets."""
    with pytest.raises(settings.SettingsError, match=f"{name} is too weak"):
        settings.load({**PRODUCTION, name: value})
    assert settings.load(PRODUCTION).production  # 32 random-looking characters or more are fine


def test_s05_development_and_the_tests_keep_short_secrets():
    assert settings.load({"CONSOLE_SECRET": "c", "WIDGET_SECRET": "w"}).console_secret == "c"
    assert settings.load({"APP_ENV": "test", "WIDGET_SECRET": "test-widget-secret"}).widget_secret


def test_action_server_listens_on_loopback_unless_told_otherwise():
    """F2: ACTION_HOST defaults to 127.0.0.1; compose and Helm set 0.0.0.0 for their private networks."""
    assert settings.load({}).action_host == "127.0.0.1"
    assert settings.load({"ACTION_HOST": "0.0.0.0"}).action_host == "0.0.0.0"


def test_body_limits_have_safe_defaults_and_refuse_nonsense():
    """F11: Rasa refuses bodies over 300 KB, the action server over 1 MiB, unless configured."""
    config = settings.load({})
    assert (config.rasa_max_body, config.action_max_body) == (300 * 1024, 1024 * 1024)
    assert settings.load({"ACTION_MAX_BODY": "2097152"}).action_max_body == 2 * 1024 * 1024
    with pytest.raises(settings.SettingsError, match="ACTION_MAX_BODY is a size in bytes"):
        settings.load({"ACTION_MAX_BODY": "10"})
    with pytest.raises(settings.SettingsError, match="SANIC_REQUEST_MAX_SIZE must be a whole number"):
        settings.load({"SANIC_REQUEST_MAX_SIZE": "300KB"})


def test_cors_default_is_the_web_apps_own_origin_only():
    """N11: no stray origin (such as http://127.0.0.1:8090) is trusted by default; the web app's own page is,
    at both names make run's address may use (issue #19: the printed 127.0.0.1 address was refused)."""
    assert settings.load({}).cors_origins == ("http://localhost:8000", "http://127.0.0.1:8000")
    assert settings.load({"WEB_PORT": "9000"}).cors_origins == ("http://localhost:9000", "http://127.0.0.1:9000")
    assert settings.load({"CORS_ORIGINS": " https://a.example , https://b.example,"}).cors_origins == (
        "https://a.example",
        "https://b.example",
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RASA_PORT": "abc"}, "RASA_PORT must be a port number"),
        ({"ACTION_PORT": "70000"}, "ACTION_PORT must be between"),
        ({"APP_ENV": "staging"}, "APP_ENV must be"),
        ({"NOTIFY_INTERVAL": "soon"}, "NOTIFY_INTERVAL must be a number"),
        ({"SMTP_SSL": "maybe"}, "SMTP_SSL must be 1 or 0"),
        ({"BUSINESS_DAYS": "1,8"}, "BUSINESS_DAYS must list weekdays"),
        ({"HANDOFF_CLAIM_TIMEOUT": "3 minutes"}, "HANDOFF_CLAIM_TIMEOUT must be a whole number"),
        ({"WECHAT_REPLY_TIMEOUT": "0"}, "WECHAT_REPLY_TIMEOUT must be above 0"),
        ({"SMTP_HOST": "mail", "SMTP_USER": "u", "SMTP_STARTTLS": "0"}, "SMTP_USER needs TLS"),
    ],
)
def test_bad_values_are_refused_clearly(env, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.load(env)


def test_several_rasa_workers_need_redis():
    with pytest.raises(settings.SettingsError, match="REDIS_URL"):
        settings.load({"SANIC_WORKERS": "3"})
    assert settings.load({"SANIC_WORKERS": "3", "REDIS_URL": "redis://127.0.0.1:6379/0"}).redis_url
    assert settings.load({"SANIC_WORKERS": "1"})


def test_the_notifier_alone_reads_the_channels_and_a_process_reads_its_settings_once(monkeypatch):
    """The channels come from the notifier's settings; ``current()`` is read once per process."""
    config = settings.load(
        {
            "NOTIFY_WEBHOOK_URL": "https://crm.example/leads",
            "SMTP_HOST": "mail.example",
            "NOTIFY_EMAIL_TO": "sales@example.com",
            "WECOM_WEBHOOK_URL": "https://qy.example/k",
        }
    )
    assert config.notifiers.channels == ["wecom", "email", "webhook"]
    assert config.notifiers.smtp_starttls and not config.notifiers.smtp_ssl  # TLS by default
    assert settings.load({}).notifiers.channels == []
    monkeypatch.setenv("CONSULTANT_CONTACT", "第一次")
    first = settings.current()
    monkeypatch.setenv("CONSULTANT_CONTACT", "第二次")
    assert settings.current() is first and first.consultant_contact == "第一次"


def test_development_secret_files_are_private_from_the_start(monkeypatch, tmp_path):
    """F15: var/ is 0700 and a secret file 0600 even under a permissive umask; racing starters agree."""
    import stat
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(settings, "DEVELOPMENT_SECRETS", tmp_path / "var")
    old = os.umask(0o022)
    try:
        with ThreadPoolExecutor(8) as pool:
            values = set(pool.map(lambda _: settings.development_secret("widget"), range(16)))
    finally:
        os.umask(old)
    assert len(values) == 1 and len(values.pop()) == 64
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "widget.secret").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["widget.secret"]  # no drafts left behind
