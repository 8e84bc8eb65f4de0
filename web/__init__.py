"""The web app on :8000: the widget, its demo page and its small JSON API.

``create_app`` is the factory (``waitress-serve --call web:create_app``);
tests pass their own settings.
"""
from __future__ import annotations

import secrets

from flask import Flask

from bot import conversations
from bot import settings as settings_module
from bot.ratelimit import RateLimiter

VAR = settings_module.PROJECT_ROOT / "var"


def _development_secret(name: str) -> str:
    """Keep one random secret per checkout so sessions survive restarts in development."""
    path = VAR / f"{name}.secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: settings_module.Settings | None = None) -> Flask:
    config = config or settings_module.load()
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = config
    app.config["WIDGET_SECRET"] = config.widget_secret or _development_secret("widget")
    app.config["SECRET_KEY"] = config.console_secret or _development_secret("console")
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.production, SESSION_COOKIE_NAME="console_session",
                      PERMANENT_SESSION_LIFETIME=12 * 3600)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.extensions["widget_rate_limit"] = RateLimiter(config.rate_limit_ip, 60, config.redis_url or None, "rl:web")
    if config.proxy_count:  # behind a reverse proxy: the visitor's address is in X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_count, x_proto=config.proxy_count)

    from web import (auth, console_api, console_conversations, console_dashboard, console_facts, console_handoff,
                     console_improve, console_leads, widget)
    app.register_blueprint(widget.bp)
    app.register_blueprint(console_api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(console_conversations.bp)
    app.register_blueprint(console_leads.bp)
    app.register_blueprint(console_facts.bp)
    app.register_blueprint(console_improve.bp)
    app.register_blueprint(console_handoff.bp)
    app.register_blueprint(console_dashboard.bp)

    @app.errorhandler(RecursionError)
    def _nested_too_deeply(_):
        # json.loads on "[[[[…" recurses until Python stops it: the body is bad, not the server
        return {"error": "request body is nested too deeply"}, 400

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
