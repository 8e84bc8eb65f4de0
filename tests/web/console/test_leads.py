"""Console screen: leads (list, detail, status, CSV export)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from bot import db
from bot.store import leads
from tests.support.console import csrf, login


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
