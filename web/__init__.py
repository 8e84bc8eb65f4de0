"""The web app on :8000: the widget, its demo page and its small JSON API.

``create_app`` is the factory (``waitress-serve --call web:create_app``);
tests pass their own settings.
"""
from __future__ import annotations

import secrets

from flask import Flask

from bot import db, leads
from bot import settings as settings_module
from web.models import Base

SECRET_FILE = settings_module.PROJECT_ROOT / "var" / "widget.secret"


def _development_secret() -> str:
    """Keep one random secret per checkout so sessions survive restarts in development."""
    SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    if not SECRET_FILE.exists():
        SECRET_FILE.write_text(secrets.token_hex(32))
        SECRET_FILE.chmod(0o600)
    return SECRET_FILE.read_text().strip()


def create_app(config: settings_module.Settings | None = None) -> Flask:
    config = config or settings_module.load()
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = config
    app.config["WIDGET_SECRET"] = config.widget_secret or _development_secret()
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    engine = db.get_engine(config.database_url)
    Base.metadata.create_all(engine)
    leads.create_schema(engine)

    from web import console_api, widget
    app.register_blueprint(widget.bp)
    app.register_blueprint(console_api.bp)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
