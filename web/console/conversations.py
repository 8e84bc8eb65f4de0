"""Console screen: conversations (list with filters, transcript, review, tags, notes)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import yaml
from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from bot import db
from bot.settings import PROJECT_ROOT
from bot.store import conversations, facts
from web import context
from web.console.auth import login_required, token_required
from web.console.privacy import mask_deep, probes_phones, sees_full_phones

bp = Blueprint("console_conversations", __name__, url_prefix="/console/conversations")
api = Blueprint("conversations_api", __name__)
PAGE = 50
TRI_STATE = {"1": True, "0": False}
QUICK_FIXES = 2  # one-click 「应答为…」 buttons per bot reply: the next intents of the visitor's ranking


def parse_filters(args: MultiDict[str, str]) -> conversations.Filters:
    """Read list filters from query parameters; bad values are ignored, not fatal."""

    def date(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(args.get(name, ""))
        except ValueError:
            return None

    return conversations.Filters(
        date_from=date("from"),
        date_to=date("to"),
        channel=args.get("channel") or None,
        fell_back=TRI_STATE.get(args.get("fallback", "")),
        low_confidence=TRI_STATE.get(args.get("low", "")),
        thumbs_down=TRI_STATE.get(args.get("thumbs_down", "")),
        had_lead=TRI_STATE.get(args.get("lead", "")),
        handed_off=TRI_STATE.get(args.get("handoff", "")),
        reviewed=TRI_STATE.get(args.get("reviewed", "")),
        tag=(args.get("tag") or "").strip() or None,
        q=(args.get("q") or "").strip()[:200] or None,
        needs_review=TRI_STATE.get(args.get("needs_review", "")),
    )


def page_number(args: MultiDict[str, str]) -> int:
    try:
        return max(int(args.get("page", 1)), 1)
    except ValueError:
        return 1


def search(args: MultiDict[str, str]) -> tuple[list[dict[str, Any]], int, int]:
    config = context.settings()
    page = page_number(args)
    filters = parse_filters(args)
    if probes_phones(filters.q):
        abort(400, description="搜索词不能包含三位以上的数字：电话号码只有管理员能看到完整的（请搜索文字）")
    with db.session_scope(config.database_url) as session:
        found, total = conversations.search(filters, session=session, limit=PAGE, offset=(page - 1) * PAGE)
        rows = [row.as_dict() for row in found]
    if not sees_full_phones():
        rows = [{**row, "preview": mask_deep(row["preview"])} for row in rows]
    return rows, total, page


@bp.get("")
@login_required()
def list_view() -> ResponseReturnValue:
    rows, total, page = search(request.args)
    return render_template(
        "console/conversations.html",
        rows=rows,
        total=total,
        page=page,
        pages=max((total + PAGE - 1) // PAGE, 1),
        args=request.args,
    )


def load(conversation_id: str) -> tuple[dict[str, Any], list[dict], list[dict]]:
    """Summary, transcript and feedback of one conversation; phones masked for all but admins."""
    config = context.settings()
    with db.session_scope(config.database_url) as session:
        summary = session.get(conversations.ConversationSummary, conversation_id)
        if summary is None:
            abort(404, description="no such conversation")
        feedback = session.query(conversations.Feedback).filter_by(conversation_id=conversation_id).all()
        summary, items, feedback = (
            summary.as_dict(),
            conversations.transcript(conversation_id, config.tracker_store_url),
            [{"text": f.message_text, "value": f.value} for f in feedback],
        )
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
def story(conversation_id: str) -> ResponseReturnValue:
    """The conversation as a test story, ready for tests/e2e/test_stories.yml."""
    _, items, _ = load(conversation_id)
    return Response(
        conversations.story_yaml(conversation_id, items),
        mimetype="text/yaml; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=story.yml"},
    )


@bp.post("/<path:conversation_id>/collect")
@login_required()
def collect(conversation_id: str) -> ResponseReturnValue:
    """Keep a misunderstood message with the intent it should have had."""
    text = (request.form.get("text") or "").strip()
    intent = request.form.get("intent")
    if not text or len(text) > 500 or intent not in domain_intents():
        abort(400, description="a message and a known intent are needed")
    with context.session() as session:
        session.add(
            conversations.CollectedExample(
                text=text, intent=intent, conversation_id=conversation_id, collected_by=g.staff
            )
        )
    flash(f"已收集：{text} → {intent}")
    return redirect(url_for("console_conversations.detail", conversation_id=conversation_id))


def chat(items: list[dict]) -> list[dict]:
    """Transcript items as chat bubbles.

    A bot bubble knows the visitor message it replies to (``reply_to``, on the
    first reply only) and shows its fact chip when the fact or version differs
    from the bubble before. Conversations stored before answers named their
    version still name the fact (the ``fact_key`` slot): its key goes on the
    turn's first bot bubble, without a version.
    """
    bubbles: list[dict] = []
    last_user, replied, shown = None, True, None
    for item in items:
        kind = item["kind"]
        if kind == "user":
            last_user, replied, shown = item, False, None
            bubbles.append({**item, "side": "visitor"})
        elif kind in ("bot", "staff"):
            bubble = {**item, "side": kind, "reply_to": None if replied or kind == "staff" else last_user}
            replied = replied or kind == "bot"
            tag = (item.get("fact_key"), item.get("fact_version"))
            bubble["show_fact"] = bool(tag[0]) and tag != shown
            shown = tag if tag[0] else shown
            bubbles.append(bubble)
        elif kind == "fact" and item.get("fact_key"):
            turn: list[dict] = []
            for bubble in reversed(bubbles):
                if bubble["side"] == "visitor":
                    break
                turn.insert(0, bubble)
            replies = [b for b in turn if b["side"] == "bot"]
            if replies and not any(b.get("fact_key") for b in replies):
                replies[0].update(fact_key=item["fact_key"], fact_version=None, show_fact=True)
        elif kind in ("pause", "resume"):
            bubbles.append({**item, "side": "system"})
    return bubbles


def fact_choices() -> list[dict]:
    """Facts a visitor message can be labelled with (they answer an intent the NLU knows), for admins."""
    known = set(domain_intents())
    with context.session() as session:
        return [
            {"key": f.key, "intent": f.intent, "question": f.question or ""}
            for f in facts.all_facts(session=session)
            if f.intent in known
        ]


@bp.get("/<path:conversation_id>")
@login_required()
def detail(conversation_id: str) -> ResponseReturnValue:
    summary, items, feedback = load(conversation_id)
    choices = fact_choices() if g.role == "admin" else []
    by_intent = {c["intent"]: c for c in choices}
    bubbles = chat(items)
    for bubble in bubbles:
        asked = bubble.get("reply_to")
        if asked:  # one click for the intents the NLU ranked next
            bubble["quick"] = [
                by_intent[i] for i in asked.get("ranking") or [] if i in by_intent and i != asked.get("intent")
            ][:QUICK_FIXES]
    return render_template(
        "console/transcript.html",
        summary=summary,
        bubbles=bubbles,
        feedback=feedback,
        intents=domain_intents(),
        choices=choices,
        low=conversations.LOW_CONFIDENCE,
    )


@bp.post("/<path:conversation_id>/review")
@login_required()
def review(conversation_id: str) -> ResponseReturnValue:
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
def conversations_list() -> ResponseReturnValue:
    """JSON twin of /console/conversations (same filters: channel, fallback, reviewed, q …)."""
    rows, total, page = search(request.args)
    return jsonify(conversations=rows, total=total, page=page, page_size=PAGE)


@api.get("/conversations/<path:conversation_id>")
@token_required
def conversation_detail(conversation_id: str) -> ResponseReturnValue:
    summary, items, feedback = load(conversation_id)
    return jsonify(conversation=summary, transcript=items, feedback=feedback)
