"""Console screen: leads (list, detail, status workflow, assignee, notes, CSV export)."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for

from bot import db, leads
from web.auth import login_required

bp = Blueprint("console_leads", __name__, url_prefix="/console/leads")
PAGE = 50


def _url() -> str:
    return current_app.config["SETTINGS"].database_url


@bp.get("")
@login_required()
def list_view():
    status = request.args.get("status") if request.args.get("status") in leads.STATUSES else None
    with db.session_scope(_url()) as s:
        rows = [lead.as_dict(mask=True) for lead in leads.list_leads(session=s, status=status, limit=500)]
    return render_template("console/leads.html", rows=rows, status=status, statuses=leads.STATUSES)


@bp.get("/export.csv")
@login_required()
def export():
    """CSV that opens in Excel (UTF-8 with BOM); phones masked for agents."""
    mask = session.get("role") != "admin"
    with db.session_scope(_url()) as s:
        rows = [lead.as_dict(mask=mask) for lead in leads.list_leads(session=s, limit=100000)]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    columns = ["id", "created_at", "status", "name", "phone", "company", "region", "licence", "channel",
               "topics", "eligibility", "assignee", "note", "visitor_note", "duplicate_of", "conversation_id"]
    writer.writerow(columns)
    for row in rows:
        writer.writerow([("、".join(row[c]) if c == "topics" else row[c]) or "" for c in columns])
    return Response(out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=leads.csv"})


@bp.get("/<int:lead_id>")
@login_required()
def detail(lead_id: int):
    with db.session_scope(_url()) as s:
        lead = s.get(leads.Lead, lead_id)
        if lead is None:
            abort(404, description="no such lead")
        return render_template("console/lead.html", lead=lead.as_dict(mask=False), statuses=leads.STATUSES)


@bp.post("/<int:lead_id>")
@login_required()
def update(lead_id: int):
    status = request.form.get("status")
    if status not in leads.STATUSES:
        abort(400, description="unknown status")
    with db.session_scope(_url()) as s:
        lead = s.get(leads.Lead, lead_id)
        if lead is None:
            abort(404, description="no such lead")
        lead.status = status
        lead.assignee = (request.form.get("assignee") or "").strip()[:100] or None
        lead.note = (request.form.get("note") or "").strip()[:2000] or None
    return redirect(url_for("console_leads.detail", lead_id=lead_id))
