"""The console's JSON API under /console/api/ (bearer tokens from ``python -m bot.console create-token``).

A token acts as ``token:NAME`` with its own role, never as a staff user of the same name.
"""
from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, abort, current_app, g, jsonify, request

from bot import db, leads, rasa_api
from web import auth
from web.console_privacy import mask_phones, sees_full_phones

bp = Blueprint("console_api", __name__, url_prefix="/console/api")
logger = logging.getLogger(__name__)
UNAVAILABLE = "the assistant's server is unavailable; please try again shortly"
UNADDRESSABLE = "this conversation's id cannot be reached through the assistant's API (unsupported characters)"


def _url() -> str:
    return current_app.config["SETTINGS"].database_url


def token_required(view):
    """Accept ``Authorization: Bearer <token>`` or a logged-in console session; 401 otherwise."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        staff = None if header else auth.current_staff()
        if staff is not None:
            # a cookie alone never authorises a change: writes also need the CSRF header
            if request.method != "GET" and not auth.csrf_matches(request.headers.get("X-CSRF-Token")):
                return jsonify(error="CSRF token missing or wrong"), 403
            g.staff, g.role = staff.name, staff.role
            return view(*args, **kwargs)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return jsonify(error="authentication required: Authorization: Bearer <token>"), 401
        with db.session_scope(_url()) as db_session:
            identity = leads.token_identity(token.strip(), session=db_session)
        if identity is None:
            return jsonify(error="invalid token"), 401
        g.staff, g.role = f"token:{identity[0]}", identity[1]
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):
    """After ``token_required``: only admin users and admin tokens."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.role != "admin":
            return jsonify(error="this needs the admin role"), 403
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


def _refuse_if_someone_elses(handoff: leads.Handoff, admin_may: bool = False) -> None:
    """A claimed handoff belongs to whoever claimed it (and, where ``admin_may``, to admins)."""
    if handoff.status == "claimed" and handoff.agent != g.staff and not (admin_may and g.role == "admin"):
        abort(409, description=f"already claimed by {handoff.agent}")


def _refuse_if_unaddressable(conversation_id: str) -> None:
    if not rasa_api.addressable(conversation_id):
        abort(400, description=UNADDRESSABLE)


def _rasa_failed(handoff_id: int, exc: rasa_api.RasaUnavailable):
    # the exception's text is safe (no URL, no token); the client gets a fixed message only
    logger.warning("handoff %s: %s", handoff_id, exc)
    abort(502, description=UNAVAILABLE)


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(409)
@bp.errorhandler(502)
def _json_error(error):
    return jsonify(error=getattr(error, "description", None) or "request refused"), error.code


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
        _refuse_if_someone_elses(handoff)
        handoff.status, handoff.agent, handoff.claimed_at = "claimed", g.staff, leads.utcnow()
        return jsonify(handoff=handoff.as_dict())


@bp.post("/handoffs/<conversation_id>/messages")
@token_required
def staff_message(conversation_id: str):
    """Send a staff message to the visitor (live on socket.io and WeChat) and store it."""
    body = request.get_json(silent=True) or {}
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        return jsonify(error="text must be 1-2000 characters"), 400
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff)
        if handoff.status != "claimed":
            abort(409, description="claim the conversation before writing")
        handoff_id, channel = handoff.id, handoff.channel
    _refuse_if_unaddressable(conversation_id)
    event = {"event": "bot", "text": text.strip(), "metadata": {"staff": g.staff}}
    try:
        rasa_api.append_events(conversation_id, [event], _settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
    return jsonify(status="sent"), 201


@bp.get("/handoffs/<conversation_id>/messages")
@token_required
def handoff_messages(conversation_id: str):
    """The messages of a conversation waiting for (or claimed by) this staff member."""
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff, admin_may=True)
        handoff_id = handoff.id
    _refuse_if_unaddressable(conversation_id)
    try:
        events = rasa_api.tracker(conversation_id, _settings()).get("events") or []
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
    mask = not sees_full_phones()
    messages = [{"sender": "user" if e["event"] == "user" else ("staff" if (e.get("metadata") or {}).get("staff")
                                                                 else "bot"),
                 "text": mask_phones(e.get("text") or "") if mask else e.get("text"),
                 "timestamp": e.get("timestamp")}
                for e in events if e.get("event") in ("user", "bot")]
    return jsonify(messages=messages)


@bp.post("/handoffs/<conversation_id>/end")
@token_required
def end_handoff(conversation_id: str):
    """Give the conversation back to the bot (the claiming agent, or an admin)."""
    with db.session_scope(_url()) as db_session:
        handoff = _handoff_or_404(db_session, conversation_id)
        _refuse_if_someone_elses(handoff, admin_may=True)
        handoff_id, channel = handoff.id, handoff.channel
        handoff.status, handoff.ended_at = "ended", leads.utcnow()
        handoff.agent = handoff.agent or g.staff
    if not rasa_api.addressable(conversation_id):
        # staff can still clear it from the queue; the assistant cannot be told to resume
        return jsonify(status="ended", resumed=False, error=UNADDRESSABLE)
    try:
        rasa_api.append_events(conversation_id, rasa_api.RESUME, _settings())
        rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_ended", _settings(), output_channel=channel)
    except rasa_api.RasaUnavailable as exc:
        _rasa_failed(handoff_id, exc)
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
@admin_required
def facts_list():
    """JSON twin of /console/facts (admin)."""
    from web.console_facts import fact_rows
    return jsonify(facts=fact_rows())


@bp.get("/improve/examples")
@token_required
def collected_examples():
    """JSON twin of /console/improve: collected training examples, newest first."""
    from bot.conversations import CollectedExample
    with db.session_scope(_url()) as db_session:
        rows = db_session.query(CollectedExample).order_by(CollectedExample.created_at.desc()).limit(1000).all()
        examples = [{"text": e.text, "intent": e.intent, "conversation_id": e.conversation_id,
                     "collected_by": e.collected_by, "created_at": e.created_at.isoformat() + "Z"} for e in rows]
    if not sees_full_phones():
        examples = [{**e, "text": mask_phones(e["text"])} for e in examples]
    return jsonify(examples=examples)
