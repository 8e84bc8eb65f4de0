"""The console's JSON API under /console/api/ (bearer tokens from ``python -m bot.console create-token``)."""
from __future__ import annotations

import secrets
from functools import wraps

from flask import Blueprint, abort, current_app, g, jsonify, request, session

from bot import db, leads, rasa_api

bp = Blueprint("console_api", __name__, url_prefix="/console/api")


def _url() -> str:
    return current_app.config["SETTINGS"].database_url


def token_required(view):
    """Accept ``Authorization: Bearer <token>`` or a logged-in console session; 401 otherwise."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if "user" in session and not request.headers.get("Authorization"):
            # a cookie alone never authorises a change: writes also need the CSRF header
            sent = request.headers.get("X-CSRF-Token", "")
            if request.method != "GET" and not (sent and secrets.compare_digest(sent, session.get("csrf", ""))):
                return jsonify(error="CSRF token missing or wrong"), 403
            g.staff = session["user"]
            return view(*args, **kwargs)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return jsonify(error="authentication required: Authorization: Bearer <token>"), 401
        with db.session_scope(_url()) as db_session:
            name = leads.token_name(token.strip(), session=db_session)
        if name is None:
            return jsonify(error="invalid token"), 401
        g.staff = name
        return view(*args, **kwargs)
    return wrapped


@bp.get("/leads")
@token_required
def list_leads():
    """Leads, newest first; ?status=new|contacted|qualified|won|lost, ?limit, ?offset."""
    status = request.args.get("status") or None
    if status is not None and status not in leads.STATUSES:
        return jsonify(error=f"status must be one of {', '.join(leads.STATUSES)}"), 400
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 200)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return jsonify(error="limit and offset must be integers"), 400
    with db.session_scope(_url()) as db_session:
        rows = [lead.as_dict(mask=True) for lead in
                leads.list_leads(session=db_session, status=status, limit=limit, offset=offset)]
    return jsonify(leads=rows, limit=limit, offset=offset)


def _settings():
    return current_app.config["SETTINGS"]


def _handoff_or_404(db_session, conversation_id: str) -> leads.Handoff:
    handoff = leads.open_handoff(conversation_id, session=db_session)
    if handoff is None:
        abort(404, description="no open handoff for this conversation")
    return handoff


@bp.errorhandler(404)
@bp.errorhandler(409)
@bp.errorhandler(502)
def _json_error(error):
    return jsonify(error=getattr(error, "description", str(error))), error.code


@bp.get("/handoffs")
@token_required
def handoff_queue():
    """The live queue: conversations waiting for or owned by a human, oldest first."""
    with db.session_scope(_url()) as db_session:
        rows = db_session.query(leads.Handoff).filter(leads.Handoff.status.in_(("queued", "claimed"))) \
            .order_by(leads.Handoff.created_at).all()
        return jsonify(handoffs=[row.as_dict() for row in rows])


@bp.post("/handoffs/<conversation_id>/claim")
@token_required
def claim_handoff(conversation_id: str):
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        if handoff.status == "claimed" and handoff.agent != g.staff:
            abort(409, description=f"already claimed by {handoff.agent}")
        handoff.status, handoff.agent, handoff.claimed_at = "claimed", g.staff, leads.utcnow()
        return jsonify(handoff=handoff.as_dict())


@bp.post("/handoffs/<conversation_id>/messages")
@token_required
def staff_message(conversation_id: str):
    """Send a staff message to the visitor (live on socket.io and WeChat) and store it."""
    body = request.get_json(silent=True) or {}
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        return jsonify(error="text must be 1-2000 characters"), 400
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        if handoff.status != "claimed" or handoff.agent != g.staff:
            abort(409, description="claim the conversation before writing")
        channel = handoff.channel
    event = {"event": "bot", "text": text.strip(), "metadata": {"staff": g.staff}}
    try:
        rasa_api.append_events(conversation_id, [event], _settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        abort(502, description=f"the assistant's server is unavailable: {exc}")
    return jsonify(status="sent"), 201


@bp.get("/handoffs/<conversation_id>/messages")
@token_required
def handoff_messages(conversation_id: str):
    """The conversation's messages, so staff see what the visitor wrote while waiting."""
    try:
        events = rasa_api.tracker(conversation_id, _settings()).get("events") or []
    except rasa_api.RasaUnavailable as exc:
        abort(502, description=f"the assistant's server is unavailable: {exc}")
    messages = [{"sender": "user" if e["event"] == "user" else ("staff" if (e.get("metadata") or {}).get("staff")
                                                                 else "bot"),
                 "text": e.get("text"), "timestamp": e.get("timestamp")}
                for e in events if e.get("event") in ("user", "bot")]
    return jsonify(messages=messages)


@bp.post("/handoffs/<conversation_id>/end")
@token_required
def end_handoff(conversation_id: str):
    """Give the conversation back to the bot."""
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        channel = handoff.channel
        handoff.status, handoff.ended_at = "ended", leads.utcnow()
        handoff.agent = handoff.agent or g.staff
    try:
        rasa_api.append_events(conversation_id, rasa_api.RESUME, _settings())
        rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_ended", _settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        abort(502, description=f"the assistant's server is unavailable: {exc}")
    return jsonify(status="ended")


@bp.get("/conversations")
@token_required
def conversations_list():
    """JSON twin of /console/conversations (same filters: channel, fallback, reviewed, q …)."""
    from web.console_conversations import PAGE, search
    rows, total, page = search(request.args)
    return jsonify(conversations=rows, total=total, page=page, page_size=PAGE)


@bp.get("/conversations/<path:conversation_id>")
@token_required
def conversation_detail(conversation_id: str):
    from web.console_conversations import load
    summary, items, feedback = load(conversation_id)
    return jsonify(conversation=summary, transcript=items, feedback=feedback)


@bp.get("/facts")
@token_required
def facts_list():
    """JSON twin of /console/facts."""
    from web.console_facts import fact_rows
    return jsonify(facts=fact_rows())


@bp.get("/improve/examples")
@token_required
def collected_examples():
    """JSON twin of /console/improve: collected training examples, newest first."""
    from bot.conversations import CollectedExample
    with db.session_scope(_url()) as db_session:
        rows = db_session.query(CollectedExample).order_by(CollectedExample.created_at.desc()).limit(1000).all()
        return jsonify(examples=[{"text": e.text, "intent": e.intent, "conversation_id": e.conversation_id,
                                  "collected_by": e.collected_by, "created_at": e.created_at.isoformat() + "Z"}
                                 for e in rows])
