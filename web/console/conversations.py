"""Console screen: conversations (list with filters, transcript, review, tags, notes)."""
from __future__ import annotations

import datetime as dt

from functools import lru_cache

import yaml
from flask import (Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from bot import db
from bot.store import conversations
from bot.settings import PROJECT_ROOT
from web.console.auth import login_required, token_required
from web.console.privacy import mask_deep, sees_full_phones
from web import context

bp = Blueprint("console_conversations", __name__, url_prefix="/console/conversations")
api = Blueprint("conversations_api", __name__)
PAGE = 50
TRI_STATE = {"1": True, "0": False}


@bp.app_template_filter("urlencode_without")
def urlencode_without(args, name: str) -> str:
    """Query string of ``args`` without ``name`` (for paging links)."""
    from urllib.parse import urlencode
    return urlencode([(k, v) for k, v in args.items(multi=True) if k != name])



def parse_filters(args) -> conversations.Filters:
    """Read list filters from query parameters; bad values are ignored, not fatal."""
    def date(name):
        try:
            return dt.date.fromisoformat(args.get(name, ""))
        except ValueError:
            return None
    return conversations.Filters(
        date_from=date("from"), date_to=date("to"), channel=args.get("channel") or None,
        fell_back=TRI_STATE.get(args.get("fallback", "")), low_confidence=TRI_STATE.get(args.get("low", "")),
        thumbs_down=TRI_STATE.get(args.get("thumbs_down", "")), had_lead=TRI_STATE.get(args.get("lead", "")),
        handed_off=TRI_STATE.get(args.get("handoff", "")), reviewed=TRI_STATE.get(args.get("reviewed", "")),
        tag=(args.get("tag") or "").strip() or None, q=(args.get("q") or "").strip()[:200] or None,
        needs_review=TRI_STATE.get(args.get("needs_review", "")))


def page_number(args) -> int:
    try:
        return max(int(args.get("page", 1)), 1)
    except ValueError:
        return 1


def search(args):
    config = context.settings()
    # the notifier folds new events every round; a page only catches up on the last moments
    conversations.refresh(config.tracker_store_url, config.database_url, max_batches=1)
    page = page_number(args)
    with db.session_scope(config.database_url) as session:
        rows, total = conversations.search(parse_filters(args), session=session, limit=PAGE,
                                           offset=(page - 1) * PAGE)
        rows = [row.as_dict() for row in rows]
    if not sees_full_phones():
        rows = [{**row, "preview": mask_deep(row["preview"])} for row in rows]
    return rows, total, page


@bp.get("")
@login_required()
def list_view():
    rows, total, page = search(request.args)
    return render_template("console/conversations.html", rows=rows, total=total, page=page,
                           pages=max((total + PAGE - 1) // PAGE, 1), args=request.args)


def load(conversation_id: str):
    """Summary, transcript and feedback of one conversation; phones masked for all but admins."""
    config = context.settings()
    # the notifier folds new events every round; a page only catches up on the last moments
    conversations.refresh(config.tracker_store_url, config.database_url, max_batches=1)
    with db.session_scope(config.database_url) as session:
        summary = session.get(conversations.ConversationSummary, conversation_id)
        if summary is None:
            abort(404, description="no such conversation")
        feedback = session.query(conversations.Feedback).filter_by(conversation_id=conversation_id).all()
        summary, items, feedback = (summary.as_dict(), conversations.transcript(conversation_id,
                                                                                 config.tracker_store_url),
                                    [{"text": f.message_text, "value": f.value} for f in feedback])
    if not sees_full_phones():
        summary = {**summary, "preview": mask_deep(summary["preview"])}
        items, feedback = mask_deep(items), mask_deep(feedback)
    return summary, items, feedback


@lru_cache(maxsize=1)
def domain_intents() -> tuple[str, ...]:
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    return tuple(i for i in domain["intents"] if not i.startswith("EXTERNAL_"))


@bp.get("/<path:conversation_id>/story.yml")
@login_required()
def story(conversation_id: str):
    """The conversation as a test story, ready for tests/test_stories.yml."""
    _, items, _ = load(conversation_id)
    return Response(conversations.test_story(conversation_id, items), mimetype="text/yaml; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=story.yml"})


@bp.post("/<path:conversation_id>/collect")
@login_required()
def collect(conversation_id: str):
    """Keep a misunderstood message with the intent it should have had."""
    text = (request.form.get("text") or "").strip()
    intent = request.form.get("intent")
    if not text or len(text) > 500 or intent not in domain_intents():
        abort(400, description="a message and a known intent are needed")
    with context.session() as session:
        session.add(conversations.CollectedExample(text=text, intent=intent, conversation_id=conversation_id,
                                                   collected_by=g.staff))
    flash(f"已收集：{text} → {intent}")
    return redirect(url_for("console_conversations.detail", conversation_id=conversation_id))


@bp.get("/<path:conversation_id>")
@login_required()
def detail(conversation_id: str):
    summary, items, feedback = load(conversation_id)
    return render_template("console/transcript.html", summary=summary, items=items, feedback=feedback,
                           intents=domain_intents())


@bp.post("/<path:conversation_id>/review")
@login_required()
def review(conversation_id: str):
    with context.session() as session:
        summary = session.get(conversations.ConversationSummary, conversation_id)
        if summary is None:
            abort(404, description="no such conversation")
        summary.reviewed = request.form.get("reviewed") == "1"
        tags = [t.strip() for t in (request.form.get("tags") or "").replace("，", ",").split(",") if t.strip()]
        summary.tags = ("," + ",".join(tags) + ",") if tags else ""
        summary.note = (request.form.get("note") or "").strip()[:2000] or None
    return redirect(url_for("console_conversations.detail", conversation_id=conversation_id))


@api.get("/conversations")
@token_required
def conversations_list():
    """JSON twin of /console/conversations (same filters: channel, fallback, reviewed, q …)."""
    rows, total, page = search(request.args)
    return jsonify(conversations=rows, total=total, page=page, page_size=PAGE)


@api.get("/conversations/<path:conversation_id>")
@token_required
def conversation_detail(conversation_id: str):
    summary, items, feedback = load(conversation_id)
    return jsonify(conversation=summary, transcript=items, feedback=feedback)
