"""Console screen: the dashboard (conversations per day and channel, fallback rate, top unanswered
questions and topics, 👍/👎, lead funnel), charted with Chart.js served from this app."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, send_from_directory
from flask.typing import ResponseReturnValue

from bot import db
from bot.store import conversations, leads
from web import context
from web.console.auth import login_required, token_required
from web.console.privacy import mask_deep, sees_full_phones

bp = Blueprint("console_dashboard", __name__, url_prefix="/console")
api = Blueprint("dashboard_api", __name__)


def figures() -> dict[str, Any]:
    config = context.settings()
    with db.session_scope(config.database_url) as session:
        data = conversations.dashboard(session=session)
    data["lead_status_labels"] = leads.STATUS_LABELS  # the funnel's bars, named as staff read them
    if not sees_full_phones():  # unanswered questions are visitor text
        data["top_unanswered"] = mask_deep(data["top_unanswered"])
    return data


@bp.get("/dashboard")
@login_required()
def page() -> ResponseReturnValue:
    return render_template("console/dashboard.html", data=figures())


@api.get("/dashboard")
@token_required
def figures_json() -> ResponseReturnValue:
    return jsonify(figures())


@bp.get("/dashboard.js")
@login_required()
def script() -> ResponseReturnValue:
    return send_from_directory(context.STATIC, "dashboard.js", max_age=60)


@bp.get("/vendor/chart.umd.js")
@login_required()
def chart_js() -> ResponseReturnValue:
    return send_from_directory(context.STATIC / "vendor", "chart.umd.js", max_age=86400)
