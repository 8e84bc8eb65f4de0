"""Console screen: the dashboard (conversations per day and channel, fallback rate, top unanswered
questions and topics, 👍/👎, lead funnel), charted with Chart.js served from this app."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, send_from_directory

from bot import conversations, db
from web.auth import login_required
from web.console_api import token_required
from web.console_privacy import mask_deep, sees_full_phones

bp = Blueprint("console_dashboard", __name__)
STATIC = Path(__file__).resolve().parent / "static"


def figures() -> dict:
    config = current_app.config["SETTINGS"]
    conversations.refresh(config.tracker_store_url, config.database_url)
    with db.session_scope(config.database_url) as session:
        data = conversations.dashboard(session=session)
    if not sees_full_phones():  # unanswered questions are visitor text
        data["top_unanswered"] = mask_deep(data["top_unanswered"])
    return data


@bp.get("/console/dashboard")
@login_required()
def page():
    return render_template("console/dashboard.html", data=figures())


@bp.get("/console/api/dashboard")
@token_required
def api():
    return jsonify(figures())


@bp.get("/console/dashboard.js")
@login_required()
def script():
    return send_from_directory(STATIC, "dashboard.js", max_age=60)


@bp.get("/console/vendor/chart.umd.js")
@login_required()
def chart_js():
    return send_from_directory(STATIC / "vendor", "chart.umd.js", max_age=86400)
