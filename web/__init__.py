"""The web app on :8000: the widget, its demo page and its small JSON API.

``create_app`` is the factory (``waitress-serve --call web:create_app``);
tests pass their own settings.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from bot import settings as settings_module
from bot import widget_session
from bot.ratelimit import RateLimiter

# the console: own scripts and styles only, never framed (N6, I1)
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"  # the widget's JSON API: loads nothing, never framed
WIDGET_FILES = ("/widget.js", "/widget.css", "/vendor/socket.io.min.js")


def _demo_policy(config: settings_module.Settings) -> str:
    """The demo page: the widget's own files, its socket.io server (http and ws), the page's inline styles."""
    rasa = config.rasa_public_url.rstrip("/")
    socket = "ws" + rasa[len("http") :] if rasa.startswith("http") else rasa
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src 'self' {rasa} {socket}; object-src 'none'; base-uri 'none'; form-action 'self'"
    )


def security_headers(response: Response) -> Response:
    """Headers that keep the console out of frames and caches and stop content sniffing everywhere.

    The widget's files are loaded by <script> and <link> tags on customers' sites, so they are
    marked cross-origin loadable instead.
    """
    headers, path = response.headers, request.path
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if path.startswith("/console"):
        headers.setdefault("Content-Security-Policy", CONSOLE_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if response.cache_control.max_age is None:  # pages, exports, API; not the scripts and styles
            headers["Cache-Control"] = "no-store"
    elif path.startswith("/api/"):
        headers.setdefault("Content-Security-Policy", JSON_POLICY)
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers["Cache-Control"] = "no-store"
    elif path in WIDGET_FILES:
        headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    elif path == "/":
        headers.setdefault("Content-Security-Policy", _demo_policy(current_app.config["SETTINGS"]))
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response


def create_app(config: settings_module.Settings | None = None) -> Flask:
    config = config or settings_module.load()
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = config
    app.config["WIDGET_SECRET"] = widget_session.secret(config)
    app.config["SECRET_KEY"] = config.console_secret or settings_module.development_secret("console")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.production,
        SESSION_COOKIE_NAME="console_session",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
    )
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.extensions["widget_rate_limit"] = RateLimiter(config.rate_limit_ip, 60, config.redis_url or None, "rl:web")
    if config.proxy_count:  # behind a reverse proxy: the visitor's address is in X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to add WSGI middleware; mypy sees a method being replaced
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.proxy_count, x_proto=config.proxy_count
        )

    from web import filters, widget
    from web.console import api, auth, conversations, dashboard, facts, handoff, improve, leads, wecom_kf

    for module in (widget, api, auth, conversations, leads, facts, improve, handoff, dashboard, wecom_kf):
        app.register_blueprint(module.bp)

    filters.register(app)
    app.after_request(security_headers)

    @app.errorhandler(RecursionError)
    def _nested_too_deeply(_: RecursionError) -> ResponseReturnValue:
        # json.loads on "[[[[…" recurses until Python stops it: the body is bad, not the server
        return {"error": "request body is nested too deeply"}, 400

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return {"status": "ok"}

    return app
