"""Console screen: 微信客服 visitors by the link (scene) that brought them, and what WeChat did not deliver."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from bot.store import wecom_kf
from web import context
from web.console.auth import login_required, token_required

bp = Blueprint("console_wecom_kf", __name__, url_prefix="/console/wecom_kf")
api = Blueprint("wecom_kf_api", __name__)
STATES = {0: "未处理", 1: "智能助手接待", 2: "待人工接待", 3: "人工接待", 4: "已结束"}
LIMIT = 500


def _listing() -> dict:
    scene = (request.args.get("scene") or "").strip()[:64] or None
    url = context.settings().database_url
    rows, scenes = wecom_kf.visitors(url, scene=scene, limit=LIMIT)
    return {"visitors": rows, "scenes": scenes, "scene": scene, "problems": wecom_kf.problems(url, limit=100)}


@bp.get("")
@login_required()
def list_view() -> ResponseReturnValue:
    return render_template("console/wecom_kf.html", states=STATES, **_listing())


@api.get("/wecom_kf")
@token_required
def listing() -> ResponseReturnValue:
    """JSON twin of the screen: visitors (``?scene=`` filters), the scenes seen, undelivered messages."""
    return jsonify(_listing())
