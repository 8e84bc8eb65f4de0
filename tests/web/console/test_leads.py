"""Console screen: leads (list, detail, status, CSV export)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from bot import db, settings
from bot.store import leads, staff
from tests.support.console import csrf, login
from tests.support.leads import LEAD
from tools import staff as console
from web import create_app


@pytest.fixture
def app(console_app):
    return console_app


def test_leads_list_and_detail_mask_phones_for_agents_and_status_changes(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    listing = client.get("/console/leads").get_data(as_text=True)
    assert "138****5678" in listing and "13812345678" not in listing
    lead_id = re.search(r"/console/leads/(\d+)", listing).group(1)
    detail = client.get(f"/console/leads/{lead_id}").get_data(as_text=True)
    assert "138****5678" in detail and "13812345678" not in detail  # F12: full phones are for admins
    admin = app.test_client()
    login(admin, "admin1", "admin password 1")
    assert "13812345678" in admin.get(f"/console/leads/{lead_id}").get_data(as_text=True)
    token = csrf(client, f"/console/leads/{lead_id}")
    client.post(
        f"/console/leads/{lead_id}",
        data={"csrf_token": token, "status": "contacted", "assignee": "agent1", "note": "已电话"},
    )
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        lead = session.get(leads.Lead, int(lead_id))
        assert (lead.status, lead.assignee, lead.note) == ("contacted", "agent1", "已电话")


def test_csv_export_opens_in_excel_and_masks_phones_for_agents(app):
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    body = client.get("/console/leads/export.csv").get_data()
    assert body.startswith("\ufeff".encode("utf-8"))
    text = body.decode("utf-8-sig")
    assert "张先生" in text and "138****5678" in text and "13812345678" not in text


def test_f06_export_neutralises_formulas_and_keeps_phones_readable(app):
    """F6: cells starting with = + - @ tab CR (or full-width ＝＋－＠) are exported as text."""
    url = app.config["SETTINGS"].database_url
    with db.session_scope(url) as session:
        leads.save_lead(
            {
                "conversation_id": "c2",
                "channel": "rest",
                "name": "=1+2",
                "phone": "13900001111",
                "company": "\uff0bcmd",
                "region": "\t=x",
                "visitor_note": "+86 139 0000 1111 请回电",
                "consent": True,
            },
            session=session,
        )
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    text = client.get("/console/leads/export.csv").get_data().decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["conversation_id"] == "c2")
    assert (row["name"], row["company"], row["region"]) == ("'=1+2", "'\uff0bcmd", "'\t=x")
    assert row["visitor_note"] == "'+86 139 0000 1111 请回电" and row["phone"] == "13900001111"


def test_leads_api_requires_a_token_and_lists_newest_first(url, capsys):
    assert console.main(["create-token", "crm"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with db.session_scope(url) as session:
        leads.save_lead(LEAD, session=session, now=dt.datetime(2026, 11, 1))
        newer, _ = leads.save_lead({**LEAD, "phone": "13900000000"}, session=session, now=dt.datetime(2026, 11, 2))
        newer.status = "contacted"
    app = create_app(settings.load({"DATABASE_URL": url, "WIDGET_SECRET": "x", "CONSOLE_SECRET": "c"}))
    client = app.test_client()
    assert client.get("/console/api/leads").status_code == 401
    assert client.get("/console/api/leads", headers={"Authorization": "Bearer nope"}).status_code == 401
    body = client.get("/console/api/leads", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [lead["phone"] for lead in body["leads"]] == ["139****0000", "138****5678"]
    only = client.get("/console/api/leads?status=contacted", headers={"Authorization": f"Bearer {token}"})
    assert [lead["status"] for lead in only.get_json()["leads"]] == ["contacted"]
    assert (
        client.get("/console/api/leads?status=bogus", headers={"Authorization": f"Bearer {token}"}).status_code == 400
    )


def test_n09_console_shows_the_visitor_note_apart_and_staff_edits_leave_it(url, tmp_path):
    """N9: staff see the visitor's 补充 and a possible duplicate; saving staff notes never touches the visitor's."""
    with db.session_scope(url) as session:
        staff.create_user("admin1", "admin", "admin password 1", session=session)
        first, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
        repeat, _ = leads.save_lead(
            {**LEAD, "conversation_id": "other", "visitor_note": "<b>冒填</b>"}, session=session
        )
    app = create_app(
        settings.load(
            {
                "DATABASE_URL": url,
                "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
                "WIDGET_SECRET": "w",
                "CONSOLE_SECRET": "c",
            }
        )
    )
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    page = client.get(f"/console/leads/{repeat.id}").get_data(as_text=True)
    assert "&lt;b&gt;冒填&lt;/b&gt;" in page and f"/console/leads/{first.id}" in page and "可能重复" in page
    token = csrf(client, f"/console/leads/{first.id}")
    client.post(f"/console/leads/{first.id}", data={"csrf_token": token, "status": "contacted", "note": "员工备注"})
    with db.session_scope(url) as session:
        lead = session.get(leads.Lead, first.id)
        assert (lead.note, lead.visitor_note) == ("员工备注", "下午方便")
    export = client.get("/console/leads/export.csv").get_data(as_text=True)
    assert "visitor_note" in export.splitlines()[0] and "下午方便" in export
