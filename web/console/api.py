"""The console's JSON API under /console/api/: each screen's twin lives beside the screen, nested here.

Callers: a logged-in console session (writes need the X-CSRF-Token header) or
``Authorization: Bearer <token>`` from ``python -m bot.console create-token``;
a token acts as ``token:NAME`` with its own role, never as a staff user of the
same name (web/console/auth.py ``token_required``).
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from web.console import conversations, dashboard, facts, handoff, improve, leads, wecom_kf

bp = Blueprint("console_api", __name__, url_prefix="/console/api")
for screen in (leads, handoff, conversations, facts, improve, dashboard, wecom_kf):
    bp.register_blueprint(screen.api)


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(409)
@bp.errorhandler(502)
def _json_error(error: HTTPException) -> ResponseReturnValue:
    return jsonify(error=error.description or "request refused"), error.code or 500  # registered codes only
