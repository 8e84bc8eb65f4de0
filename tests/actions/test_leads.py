"""The lead form's submission (actions/leads.py): what is stored, what is refused."""

from __future__ import annotations

import pytest
import yaml

from bot import db
from bot.settings import PROJECT_ROOT
from tests.support.actions import run

FORM = {
    "lead_name": "张先生",
    "lead_phone": "13812345678",
    "lead_company": "某某科技",
    "lead_region": "广东深圳",
    "lead_licence": "全网",
    "lead_note": "下午方便",
    "lead_consent": True,
}


def stored_leads(url) -> list:
    from bot.store import leads

    with db.session_scope(url) as session:
        return [lead.as_dict(mask=False) for lead in leads.list_leads(session=session)]


async def test_f02_submit_lead_stores_a_valid_form(database_url):
    from actions.leads import ActionSubmitLead

    messages, _ = await run(ActionSubmitLead(), "affirm", slots=FORM)
    assert messages[0]["response"] == "utter_lead_saved"
    [lead] = stored_leads(database_url)
    assert (lead["name"], lead["phone"], lead["visitor_note"], lead["note"]) == (
        "张先生",
        "13812345678",
        "下午方便",
        None,
    )


@pytest.mark.parametrize(
    "forged",
    [
        {"lead_phone": "not-a-phone"},
        {"lead_phone": None},
        {"lead_phone": 13812345678},
        {"lead_consent": "true"},
        {"lead_consent": 1},
        {"lead_name": ""},
        {"lead_name": None},
        {"lead_name": ["张"]},
        {"lead_company": {"a": 1}},
    ],
)
async def test_f02_submit_lead_refuses_slots_the_form_would_never_send(database_url, forged):
    """F2: the action server trusts no slot: a forged tracker with a bad phone, consent or type stores nothing."""
    from actions.leads import ActionSubmitLead

    messages, events = await run(ActionSubmitLead(), "affirm", slots={**FORM, **forged})
    assert stored_leads(database_url) == []
    assert messages and messages[0]["response"] != "utter_lead_saved"
    assert {"event": "slot", "timestamp": None, "name": "lead_consent", "value": None} in events


async def test_f02_over_long_answers_are_cut_to_what_staff_screens_hold(database_url):
    """F2: lengths are checked in the action too (the form caps answers at 200 characters; columns are narrower)."""
    from actions.leads import ActionSubmitLead

    await run(
        ActionSubmitLead(),
        "affirm",
        slots={
            **FORM,
            "lead_name": "名" * 5000,
            "lead_region": "省" * 300,
            "lead_company": "司" * 300,
            "lead_note": "注" * 5000,
            "lead_licence": "<b>全网</b>",
        },
    )
    [lead] = stored_leads(database_url)
    assert len(lead["name"]) == 100 and len(lead["region"]) == 100 and len(lead["company"]) == 200
    assert len(lead["visitor_note"]) == 500 and lead["licence"] is None


async def test_a_lead_the_database_cannot_take_tells_the_visitor_it_was_not_saved(tmp_path, monkeypatch):
    """It said 「知识库暂时无法访问」, as if a licence question had failed: now it says the lead was not kept."""
    from actions.leads import ActionSubmitLead

    (tmp_path / "db").mkdir()  # a folder where the database file should be: SQLite cannot open it
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db'}")
    monkeypatch.setenv("CONSULTANT_CONTACT", "顾问热线 010-1234")
    messages, events = await run(ActionSubmitLead(), "affirm", slots=FORM)
    assert [(m["response"], m["contact"]) for m in messages] == [("utter_lead_not_saved", "顾问热线 010-1234")]
    assert events == []  # the form's answers stay, so the visitor can submit again


def test_the_storage_failure_replies_say_what_did_not_happen():
    responses = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))["responses"]
    lead = responses["utter_lead_not_saved"][0]["text"]
    handoff = responses["utter_handoff_unavailable"][0]["text"]
    assert "联系方式" in lead and "没能保存" in lead and "人工" in handoff
    assert all("{contact}" in text and "知识库" not in text for text in (lead, handoff))
