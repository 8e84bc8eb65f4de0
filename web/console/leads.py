"""Console screen: leads (list, detail, status workflow, assignee, notes, CSV export)."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.store import leads
from web import context
from web.console.auth import login_required, token_required

bp = Blueprint("console_leads", __name__, url_prefix="/console/leads")
api = Blueprint("leads_api", __name__)
PAGE = 50
# what spreadsheets read as the start of a formula (full-width forms too: Excel folds them)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def as_text_cell(value: object) -> str:
    """Keep a cell from being run as a formula by Excel or LibreOffice: prefix the trigger characters with '."""
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


@bp.get("")
@login_required()
def list_view() -> ResponseReturnValue:
    status = request.args.get("status") if request.args.get("status") in leads.STATUSES else None
    with context.session() as s:
        rows = [lead.as_dict(mask=True) for lead in leads.list_leads(session=s, status=status, limit=500)]
    return render_template("console/leads.html", rows=rows, status=status, statuses=leads.STATUSES)


@bp.get("/export.csv")
@login_required()
def export() -> ResponseReturnValue:
    """CSV that opens in Excel (UTF-8 with BOM); phones masked for agents."""
    mask = g.role != "admin"
    with context.session() as s:
        rows = [lead.as_dict(mask=mask) for lead in leads.list_leads(session=s, limit=100000)]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    columns = [
        "id",
        "created_at",
        "status",
        "name",
        "phone",
        "company",
        "region",
        "licence",
        "channel",
        "scene",
        "scene_param",
        "topics",
        "eligibility",
        "assignee",
        "note",
        "visitor_note",
        "duplicate_of",
        "conversation_id",
    ]
    writer.writerow(columns)
    for row in rows:
        writer.writerow([as_text_cell(("、".join(row[c]) if c == "topics" else row[c]) or "") for c in columns])
    return Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=leads.csv"},
    )


@bp.get("/<int:lead_id>")
@login_required()
def detail(lead_id: int) -> ResponseReturnValue:
    with context.session() as s:
        lead = s.get(leads.Lead, lead_id)
        if lead is None:
            abort(404, description="no such lead")
        return render_template("console/lead.html", lead=lead.as_dict(mask=g.role != "admin"), statuses=leads.STATUSES)


@bp.post("/<int:lead_id>")
@login_required()
def update(lead_id: int) -> ResponseReturnValue:
    status = request.form.get("status")
    if status not in leads.STATUSES:
        abort(400, description="unknown status")
    with context.session() as s:
        lead = s.get(leads.Lead, lead_id)
        if lead is None:
            abort(404, description="no such lead")
        lead.status = status
        lead.assignee = (request.form.get("assignee") or "").strip()[:100] or None
        lead.note = (request.form.get("note") or "").strip()[:2000] or None
    return redirect(url_for("console_leads.detail", lead_id=lead_id))


@api.get("/leads")
@token_required
def list_leads() -> ResponseReturnValue:
    """Leads, newest first; ?status=new|contacted|qualified|won|lost, ?limit, ?offset."""
    status = request.args.get("status") or None
    if status is not None and status not in leads.STATUSES:
        return jsonify(error=f"status must be one of {', '.join(leads.STATUSES)}"), 400
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 200)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return jsonify(error="limit and offset must be integers"), 400
    with context.session() as db_session:
        rows = [
            lead.as_dict(mask=True)
            for lead in leads.list_leads(session=db_session, status=status, limit=limit, offset=offset)
        ]
    return jsonify(leads=rows, limit=limit, offset=offset)
