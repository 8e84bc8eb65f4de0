"""Settings come from the environment; production has no secret defaults."""
import pytest

from bot import settings


def test_development_defaults_use_sqlite_under_var():
    config = settings.load({})
    assert config.database_url.endswith("/var/facts.db")
    assert config.tracker_store_url.endswith("/var/tracker.db")
    assert (config.rasa_port, config.action_port) == (5005, 5055)


def test_production_requires_secrets():
    with pytest.raises(settings.SettingsError, match="DATABASE_URL, RASA_AUTH_TOKEN, WIDGET_SECRET, CONSOLE_SECRET"):
        settings.load({"APP_ENV": "production"})
    config = settings.load({"APP_ENV": "production", "DATABASE_URL": "sqlite://", "RASA_AUTH_TOKEN": "t", "WIDGET_SECRET": "s", "CONSOLE_SECRET": "c"})
    assert config.production


@pytest.mark.parametrize("env, message", [
    ({"RASA_PORT": "abc"}, "RASA_PORT must be a port number"),
    ({"ACTION_PORT": "70000"}, "ACTION_PORT must be between"),
    ({"APP_ENV": "staging"}, "APP_ENV must be"),
])
def test_bad_values_are_refused_clearly(env, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.load(env)


def test_several_rasa_workers_need_redis():
    with pytest.raises(settings.SettingsError, match="REDIS_URL"):
        settings.load({"SANIC_WORKERS": "3"})
    assert settings.load({"SANIC_WORKERS": "3", "REDIS_URL": "redis://127.0.0.1:6379/0"}).redis_url
    assert settings.load({"SANIC_WORKERS": "1"})
