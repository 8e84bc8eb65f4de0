"""Console screen: the handoff desk (queue, claim, live chat, end) on top of /console/api/handoffs."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, send_from_directory

from web.auth import login_required

bp = Blueprint("console_handoff", __name__, url_prefix="/console/handoff")
STATIC = Path(__file__).resolve().parent / "static"


@bp.get("")
@login_required()
def desk():
    return render_template("console/handoff.html")


@bp.get("/desk.js")
@login_required()
def script():
    return send_from_directory(STATIC, "handoff-desk.js", max_age=60)
