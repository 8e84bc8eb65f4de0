"""Console screen (admin): facts — browse, edit with an audit trail, flag unverified ones."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for

from bot.store import facts
from web.console.auth import admin_required, login_required, token_required
from web import context

bp = Blueprint("console_facts", __name__, url_prefix="/console/facts")
api = Blueprint("facts_api", __name__)
STALE_AFTER = dt.timedelta(days=180)



def parse_sources(text: str) -> list[dict]:
    """One source per line: ``document | article`` (the article is optional)."""
    sources = []
    for line in text.splitlines():
        if not line.strip():
            continue
        document, _, article = line.partition("|")
        if not document.strip():
            raise ValueError("each source line needs a document")
        sources.append({"document": document.strip(), "article": article.strip() or None})
    if not sources:
        raise ValueError("a fact needs at least one source")
    return sources


def fact_rows() -> list[dict]:
    today = dt.date.today()
    with context.session() as s:
        return [{"key": f.key, "topic": f.topic, "intent": f.intent, "question": f.question,
                 "answer": f.answer, "sources": f.sources, "confidence": f.confidence,
                 "verified": f.verified_date.isoformat(), "stale": today - f.verified_date > STALE_AFTER}
                for f in facts.all_facts(session=s)]


@bp.get("")
@login_required("admin")
def list_view():
    return render_template("console/facts.html", rows=fact_rows(), stale_days=STALE_AFTER.days)


@bp.route("/<key>", methods=["GET", "POST"])
@login_required("admin")
def edit(key: str):
    error = None
    with context.session() as s:
        fact = facts.get_fact(key, session=s)
        if fact is None:
            abort(404, description="no such fact")
        if request.method == "POST":
            try:
                verified = dt.date.fromisoformat(request.form.get("verified_date") or "")
                sources = parse_sources(request.form.get("sources") or "")
                facts.edit_fact(key, {
                    "sources": sources,
                    "question": (request.form.get("question") or "").strip() or None,
                    "answer": request.form.get("answer") or "",
                    "confidence": request.form.get("confidence"),
                    "confidence_note": (request.form.get("confidence_note") or "").strip() or None,
                    "verified_date": verified,
                }, g.staff, session=s)
                return redirect(url_for("console_facts.edit", key=key))
            except ValueError as exc:
                s.rollback()
                error = str(exc) if not str(exc).startswith("Invalid isoformat") else "日期格式应为 YYYY-MM-DD"
        history = [{"editor": e.editor, "at": e.edited_at, "before": e.before, "after": e.after}
                   for e in facts.edits(key, session=s)]
        return render_template("console/fact.html", fact=fact, history=history, error=error,
                               levels=facts.CONFIDENCE_LEVELS), (400 if error else 200)


@api.get("/facts")
@token_required
@admin_required
def facts_list():
    """JSON twin of /console/facts (admin)."""
    return jsonify(facts=fact_rows())
