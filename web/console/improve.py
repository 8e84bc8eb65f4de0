"""Console screen: the improve loop — the needs-review queue and collected training examples."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from bot.store import conversations
from web import context
from web.console.auth import login_required, token_required
from web.console.privacy import mask_phones, sees_full_phones

bp = Blueprint("console_improve", __name__, url_prefix="/console/improve")
api = Blueprint("improve_api", __name__)


@bp.get("")
@login_required()
def index() -> ResponseReturnValue:
    with context.session() as session:
        examples = (
            session.query(conversations.CollectedExample)
            .order_by(conversations.CollectedExample.created_at.desc())
            .limit(500)
            .all()
        )
        rows = [
            {
                "text": e.text if sees_full_phones() else mask_phones(e.text),
                "intent": e.intent,
                "by": e.collected_by,
                "at": e.created_at,
                "conversation_id": e.conversation_id,
            }
            for e in examples
        ]
    return render_template("console/improve.html", rows=rows)


@bp.get("/queue")
@login_required()
def queue() -> ResponseReturnValue:
    """Conversations that need a look: not understood, low confidence or 👎, not reviewed yet."""
    return redirect(url_for("console_conversations.list_view", needs_review="1", reviewed="0"))


@bp.get("/nlu.yml")
@login_required()
def export_nlu() -> ResponseReturnValue:
    """Collected examples as Rasa NLU YAML, ready to drop into data/nlu/."""
    with context.session() as session:
        examples = session.query(conversations.CollectedExample).order_by(conversations.CollectedExample.id).all()
        if not sees_full_phones():  # copies, never added to the session: the stored text stays as collected
            examples = [conversations.CollectedExample(text=mask_phones(e.text), intent=e.intent) for e in examples]
        body = conversations.nlu_yaml(examples)
    return Response(
        body,
        mimetype="text/yaml; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=collected_nlu.yml"},
    )


@api.get("/improve/examples")
@token_required
def collected_examples() -> ResponseReturnValue:
    """JSON twin of /console/improve: collected training examples, newest first."""
    with context.session() as db_session:
        rows = (
            db_session.query(conversations.CollectedExample)
            .order_by(conversations.CollectedExample.created_at.desc())
            .limit(1000)
            .all()
        )
        examples = [
            {
                "text": e.text,
                "intent": e.intent,
                "conversation_id": e.conversation_id,
                "collected_by": e.collected_by,
                "created_at": e.created_at.isoformat() + "Z",
            }
            for e in rows
        ]
    if not sees_full_phones():
        examples = [{**e, "text": mask_phones(e["text"])} for e in examples]
    return jsonify(examples=examples)
