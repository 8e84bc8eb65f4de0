"""Console screen: the improve loop — the needs-review queue and collected training examples."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, url_for

from bot import conversations, db
from web.auth import login_required

bp = Blueprint("console_improve", __name__, url_prefix="/console/improve")


def _url() -> str:
    return current_app.config["SETTINGS"].database_url


@bp.get("")
@login_required()
def index():
    with db.session_scope(_url()) as session:
        examples = session.query(conversations.CollectedExample) \
            .order_by(conversations.CollectedExample.created_at.desc()).limit(500).all()
        rows = [{"text": e.text, "intent": e.intent, "by": e.collected_by, "at": e.created_at,
                 "conversation_id": e.conversation_id} for e in examples]
    return render_template("console/improve.html", rows=rows)


@bp.get("/queue")
@login_required()
def queue():
    """Conversations that need a look: not understood, low confidence or 👎, not reviewed yet."""
    return redirect(url_for("console_conversations.list_view", needs_review="1", reviewed="0"))


@bp.get("/nlu.yml")
@login_required()
def export_nlu():
    """Collected examples as Rasa NLU YAML, ready to drop into data/nlu/."""
    with db.session_scope(_url()) as session:
        examples = session.query(conversations.CollectedExample).order_by(conversations.CollectedExample.id).all()
        body = conversations.nlu_yaml(examples)
    return Response(body, mimetype="text/yaml; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=collected_nlu.yml"})
