"""The widget's session tokens and the secret that signs them (bot/widget_session.py)."""

from __future__ import annotations

from bot import settings, widget_session
from web import create_app


def test_a_token_opens_only_its_own_session():
    secret, session_id = "s" * 32, "a" * 32
    token = widget_session.token(secret, session_id)
    assert widget_session.valid(secret, session_id, token)
    assert not widget_session.valid(secret, "b" * 32, token)
    assert not widget_session.valid("t" * 32, session_id, token)
    assert not widget_session.valid(secret, session_id, None) and not widget_session.valid(secret, 7, token)


def test_the_rasa_channels_share_the_web_apps_development_secret(tmp_path, monkeypatch):
    """Without WIDGET_SECRET both processes use var/widget.secret, whichever creates it first."""
    monkeypatch.setattr(settings, "DEVELOPMENT_SECRETS", tmp_path)
    config = settings.load({"DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}"})
    first = widget_session.secret(config)  # Rasa first
    assert len(first) == 64 and (tmp_path / "widget.secret").stat().st_mode & 0o077 == 0
    assert create_app(config).config["WIDGET_SECRET"] == first
    (tmp_path / "widget.secret").unlink()
    app = create_app(config)  # the web app first
    assert widget_session.secret(config) == app.config["WIDGET_SECRET"] != first
    assert widget_session.secret(settings.load({"WIDGET_SECRET": "set"})) == "set"
