"""The chat widget: demo page, widget files, visitor sessions, history and feedback."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from bot import rasa_api, widget_session
from bot.store.conversations import Feedback
from bot.widget_session import SESSION_ID
from web import context

bp = Blueprint("widget", __name__)
MAX_FEEDBACK_TEXT = 4000


def session_token(session_id: str) -> str:
    """Sign a session id so that only its holder can use it (history here; socket.io and REST in Rasa)."""
    return widget_session.token(current_app.config["WIDGET_SECRET"], session_id)


def _check_session(session_id: object, token: object) -> str:
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        abort(400, description="session_id must be 32 lowercase hex characters")
    if not widget_session.valid(current_app.config["WIDGET_SECRET"], session_id, token):
        abort(403, description="token does not match this session")
    return session_id


@bp.before_request
def _limit_rate() -> ResponseReturnValue | None:
    """Refuse an address that calls the widget API more than RATE_LIMIT_PER_IP times a minute."""
    if not request.path.startswith("/api/") or request.method == "OPTIONS":
        return None
    if current_app.extensions["widget_rate_limit"].allow(request.remote_addr or "unknown"):
        return None
    return jsonify(error="too many requests: please wait a minute and try again"), 429


@bp.after_request
def _cors(response: Response) -> Response:
    """Allow the embedding sites listed in CORS_ORIGINS to call the widget API."""
    origin = request.headers.get("Origin")
    if origin and origin in context.settings().cors_origins and request.path.startswith("/api/"):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = f"Content-Type, {widget_session.HEADER}"
        response.headers["Vary"] = "Origin"
    return response


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(413)
def _json_error(error: HTTPException) -> ResponseReturnValue:
    return jsonify(error=error.description), error.code or 500  # registered for 400, 403, 413: never None


@bp.get("/")
def demo_page() -> ResponseReturnValue:
    # the widget's address comes from where the browser loaded the page, never from the Host header
    return render_template("index.html")


@bp.get("/widget.js")
def widget_js() -> ResponseReturnValue:
    return send_from_directory(context.STATIC, "widget.js", max_age=300)


@bp.get("/widget.css")
def widget_css() -> ResponseReturnValue:
    return send_from_directory(context.STATIC, "widget.css", max_age=300)


@bp.get("/vendor/socket.io.min.js")
def socket_io_client() -> ResponseReturnValue:
    return send_from_directory(context.STATIC / "vendor", "socket.io.min.js", max_age=86400)


@bp.route("/api/session", methods=["POST", "OPTIONS"])
def new_session() -> ResponseReturnValue:
    """Issue a random, unguessable conversation id with its signed token."""
    if request.method == "OPTIONS":
        return "", 204
    session_id = secrets.token_hex(16)
    return jsonify(
        session_id=session_id,
        token=session_token(session_id),
        socket_url=context.settings().rasa_public_url,
        socket_path="/socket.io",
    )


def _visible_history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn tracker events into the messages the visitor saw."""
    messages: list[dict[str, Any]] = []
    buttons: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            text = event.get("text") or ""
            # a clicked button is stored as its payload: show its title
            title = next((b["title"] for b in buttons if b.get("payload") == text), None)
            messages.append({"sender": "user", "text": title or text, "timestamp": event.get("timestamp")})
        elif kind == "bot":
            data = event.get("data") or {}
            buttons = data.get("buttons") or data.get("quick_replies") or []
            messages.append(
                {
                    "sender": "bot",
                    "text": event.get("text") or "",
                    "timestamp": event.get("timestamp"),
                    "buttons": [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons],
                }
            )
    return messages


@bp.route("/api/history", methods=["GET", "OPTIONS"])
def history() -> ResponseReturnValue:
    """Return this session's own messages, from Rasa's tracker store."""
    if request.method == "OPTIONS":
        return "", 204
    if "token" in request.args:  # URLs end up in access logs
        abort(400, description=f"send the token in the {widget_session.HEADER} header, not in the URL")
    session_id = _check_session(request.args.get("session_id"), request.headers.get(widget_session.HEADER))
    try:
        events = rasa_api.tracker(session_id, context.settings()).get("events") or []
    except rasa_api.RasaUnavailable:
        return jsonify(error="the assistant is unavailable; history will load when it is back"), 503
    return jsonify(messages=_visible_history(events))


@bp.route("/api/feedback", methods=["POST", "OPTIONS"])
def feedback() -> ResponseReturnValue:
    """Store a 👍/👎 on one answer with the conversation."""
    if request.method == "OPTIONS":
        return "", 204
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="expected a JSON object")
    session_id = _check_session(body.get("session_id"), body.get("token"))
    value, text = body.get("value"), body.get("message_text")
    if value not in (1, -1) or isinstance(value, bool):
        abort(400, description="value must be 1 or -1")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_FEEDBACK_TEXT:
        abort(400, description="message_text must be the answer's text")
    with context.session() as session:
        session.add(Feedback(conversation_id=session_id, message_text=text, value=value))
    return jsonify(status="saved"), 201
