"""Actions run against a real SQLite facts database."""
from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFact
from actions.consultant import ActionOfferConsultant
from bot import facts


def tracker_for(intent: str, text: str = "") -> Tracker:
    return Tracker(
        sender_id="visitor",
        slots={},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action, intent: str):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker_for(intent), {})
    return dispatcher.messages, events


async def test_answer_comes_from_the_database_with_its_source(session):
    messages, events = await run(ActionAnswerFact(), "ask_capital")
    fact = facts.fact_for_intent("ask_capital", session=session)
    first = messages[0]
    assert first["response"] == "utter_fact"
    assert first["answer"] == fact.answer and "1000万元" in first["answer"] and "100万元" in first["answer"]
    assert "第42号" in first["source"] and "第6条" in first["source"]
    assert events == [{"event": "slot", "timestamp": None, "name": "fact_key", "value": "conditions.capital"}]


async def test_outdated_article_claim_is_corrected(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_annual_report")
    corrections = [m for m in messages if m["response"] == "utter_fact_correction"]
    assert len(corrections) == 1
    assert "年检" in corrections[0]["claim"] and "年报" in corrections[0]["current"]
    assert corrections[0]["since"] == "2017"


async def test_unconfirmed_fact_says_so_and_offers_a_consultant(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_upgrade_licence")
    assert [m["response"] for m in messages] == ["utter_fact", "utter_fact_unconfirmed"]
    assert messages[1]["note"] == facts.CONFIDENCE_LEVELS["U"]


async def test_confirmed_fact_has_no_uncertainty_note(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_validity")
    assert [m["response"] for m in messages] == ["utter_fact"]


async def test_edited_fact_changes_the_next_answer(session):
    fact = facts.fact_for_intent("ask_validity", session=session)
    fact.answer = "有效期为5年（已由工作人员复核）。"
    session.commit()
    messages, _ = await run(ActionAnswerFact(), "ask_validity")
    assert messages[0]["answer"] == "有效期为5年（已由工作人员复核）。"


@pytest.mark.parametrize("intent", ["ask_definition", "ask_licence_types", "ask_process", "ask_materials",
                                    "ask_conditions", "ask_penalty", "ask_numbers_95_96", "ask_exemptions"])
async def test_every_topic_answers_with_a_source(database_url, intent):
    messages, events = await run(ActionAnswerFact(), intent)
    assert messages[0]["response"] == "utter_fact"
    assert messages[0]["answer"] and messages[0]["source"]
    assert events[0]["name"] == "fact_key"


async def test_missing_fact_apologises_with_the_contact(database_url, monkeypatch):
    monkeypatch.setenv("CONSULTANT_CONTACT", "顾问热线 010-1234")
    messages, events = await run(ActionAnswerFact(), "ask_something_new")
    assert messages == [{**messages[0], "response": "utter_fact_missing", "contact": "顾问热线 010-1234"}]
    assert events == []


async def test_unreachable_database_apologises_with_the_contact(tmp_path, monkeypatch):
    # a folder where the database file should be: SQLite cannot open it
    (tmp_path / "db").mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db'}")
    monkeypatch.setenv("CONSULTANT_CONTACT", "顾问热线 010-1234")
    messages, _ = await run(ActionAnswerFact(), "ask_capital")
    assert len(messages) == 1
    assert messages[0]["response"] == "utter_facts_unavailable"
    assert messages[0]["contact"] == "顾问热线 010-1234"


async def test_consultant_offer_uses_the_configured_contact(monkeypatch):
    monkeypatch.setenv("CONSULTANT_CONTACT", "周一至周五 9:00-18:00 致电 010-1234")
    messages, _ = await run(ActionOfferConsultant(), "request_consultant")
    assert messages[0]["response"] == "utter_consultant_contact"
    assert messages[0]["contact"] == "周一至周五 9:00-18:00 致电 010-1234"
