"""Console screen: the handoff desk (queue, claim, live chat, end) on top of /console/api/handoffs."""

from __future__ import annotations

import logging
from typing import NoReturn

from flask import Blueprint, abort, g, jsonify, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot import db, rasa_api
from bot.store import handoffs
from web import context
from web.console.auth import login_required, token_required
from web.console.privacy import mask_phones, sees_full_phones

bp = Blueprint("console_handoff", __name__, url_prefix="/console/handoff")
api = Blueprint("handoff_api", __name__)
logger = logging.getLogger(__name__)
UNAVAILABLE = "the assistant's server is unavailable; please try again shortly"
UNADDRESSABLE = "this conversation's id cannot be reached through the assistant's API (unsupported characters)"


@bp.get("")
@login_required()
def desk() -> ResponseReturnValue:
    return render_template("console/handoff.html")


@bp.get("/desk.js")
@login_required()
def script() -> ResponseReturnValue:
    return send_from_directory(context.STATIC, "handoff-desk.js", max_age=60)


def _handoff_or_404(db_session: Session, conversation_id: str) -> handoffs.Handoff:
    handoff = handoffs.open_handoff(conversation_id, session=db_session)
    if handoff is None:
        abort(404, description="no open handoff for this conversation")
    return handoff


def _refuse_if_someone_elses(handoff: handoffs.Handoff, admin_may: bool = False) -> None:
    """A claimed handoff belongs to whoever claimed it (and, where ``admin_may``, to admins)."""
    if handoff.status == "claimed" and handoff.agent != g.staff and not (admin_may and g.role == "admin"):
        abort(409, description=f"already claimed by {handoff.agent}")


def _refuse_if_unaddressable(conversation_id: str) -> None:
    if not rasa_api.addressable(conversation_id):
        abort(400, description=UNADDRESSABLE)


def _rasa_failed(handoff_id: int, exc: rasa_api.RasaUnavailable) -> NoReturn:
    # the exception's text is safe (no URL, no token); the client gets a fixed message only
    logger.warning("handoff %s: %s", handoff_id, exc)
    abort(502, description=UNAVAILABLE)


@api.get("/handoffs")
@token_required
def handoff_queue() -> ResponseReturnValue:
    """The live queue: conversations waiting for or owned by a human, oldest first."""
    with context.session() as db_session:
        rows = (
            db_session.query(handoffs.Handoff)
            .filter(handoffs.Handoff.status.in_(("queued", "claimed")))
            .order_by(handoffs.Handoff.created_at)
            .all()
        )
        return jsonify(handoffs=[row.as_dict() for row in rows])


@api.post("/handoffs/<conversation_id>/claim")
@token_required
def claim_handoff(conversation_id: str) -> ResponseReturnValue:
    with context.session() as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff)
        handoff.status, handoff.agent, handoff.claimed_at = "claimed", g.staff, db.utcnow()
        return jsonify(handoff=handoff.as_dict())


@api.post("/handoffs/<conversation_id>/messages")
@token_required
def staff_message(conversation_id: str) -> ResponseReturnValue:
    """Send a staff message to the visitor (live on socket.io and WeChat) and store it."""
    body = request.get_json(silent=True) or {}
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        return jsonify(error="text must be 1-2000 characters"), 400
    with context.session() as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff)
        if handoff.status != "claimed":
            abort(409, description="claim the conversation before writing")
        handoff_id, channel = handoff.id, handoff.channel
    _refuse_if_unaddressable(conversation_id)
    event = {"event": "bot", "text": text.strip(), "metadata": {"staff": g.staff}}
    try:
        rasa_api.append_events(conversation_id, [event], context.settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
    return jsonify(status="sent"), 201


@api.get("/handoffs/<conversation_id>/messages")
@token_required
def handoff_messages(conversation_id: str) -> ResponseReturnValue:
    """The messages of a conversation waiting for (or claimed by) this staff member."""
    with context.session() as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff, admin_may=True)
        handoff_id = handoff.id
    _refuse_if_unaddressable(conversation_id)
    try:
        events = rasa_api.tracker(conversation_id, context.settings()).get("events") or []
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
    mask = not sees_full_phones()
    messages = [
        {
            "sender": "user"
            if e["event"] == "user"
            else ("staff" if (e.get("metadata") or {}).get("staff") else "bot"),
            "text": mask_phones(e.get("text") or "") if mask else e.get("text"),
            "timestamp": e.get("timestamp"),
        }
        for e in events
        if e.get("event") in ("user", "bot")
    ]
    return jsonify(messages=messages)


@api.post("/handoffs/<conversation_id>/end")
@token_required
def end_handoff(conversation_id: str) -> ResponseReturnValue:
    """Give the conversation back to the bot (the claiming agent, or an admin)."""
    with context.session() as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff, admin_may=True)
        handoff_id, channel = handoff.id, handoff.channel
        handoff.status, handoff.ended_at = "ended", db.utcnow()
        handoff.agent = handoff.agent or g.staff
    if not rasa_api.addressable(conversation_id):
        # staff can still clear it from the queue; the assistant cannot be told to resume
        return jsonify(status="ended", resumed=False, error=UNADDRESSABLE)
    try:
        rasa_api.append_events(conversation_id, rasa_api.RESUME, context.settings())
        rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_ended", context.settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
    return jsonify(status="ended")
