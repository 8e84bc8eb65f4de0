"""The eligibility pre-check (actions/eligibility.py): what it asks, and its verdict."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFact
from bot.store import facts
from tests.support.actions import run, tracker_for


async def test_a_pre_check_started_with_scope_and_capital_asks_nothing_and_gives_the_verdict(database_url):
    from actions.eligibility import ActionEligibilityResult, ActionEligibilityStart, ValidateEligibilityForm

    told = {"capital": 2000, "licence_scope": "全网", "company_type": "外资"}
    start, _ = await run(ActionEligibilityStart(), "check_eligibility", entities=told)
    assert start == []  # no 「我问您几个问题」 when there is nothing to ask
    tracker = tracker_for("check_eligibility", entities=told, slots=told)
    required = await ValidateEligibilityForm().required_slots(
        ["licence_scope", "company_type", "capital", "on_blacklist", "has_premises"],
        CollectingDispatcher(),
        tracker,
        {},
    )
    assert required == ["licence_scope", "capital"]
    messages, events = await run(ActionEligibilityResult(), "check_eligibility", entities=told, slots=told)
    assert messages[0]["response"] == "utter_eligibility_ok_partial"  # blacklist and premises were not said
    assert (messages[0]["licence"], messages[0]["capital"], messages[0]["minimum"]) == ("全网", "2000", "1000")
    assert "全网" in events[0]["value"]


async def test_a_pre_check_started_with_part_of_the_case_asks_for_the_rest(database_url):
    from actions.eligibility import ActionEligibilityStart, ValidateEligibilityForm

    start, _ = await run(ActionEligibilityStart(), "check_eligibility", entities={"company_type": "外资"})
    assert [m["response"] for m in start] == ["utter_eligibility_start"]
    slots = ["licence_scope", "company_type", "capital", "on_blacklist", "has_premises"]
    tracker = tracker_for("check_eligibility", entities={"capital": 300}, slots={"capital": 300})
    assert await ValidateEligibilityForm().required_slots(slots, CollectingDispatcher(), tracker, {}) == slots


async def test_the_gap_lines_come_from_the_conditions_fact(session):
    conditions = facts.get_fact("conditions.all", session=session)
    messages, _ = await run(
        ActionAnswerFact(),
        "ask_need_licence",
        entities={"capital": 500, "licence_scope": "地网", "company_type": "个体户"},
    )
    assert messages[1]["response"] == "utter_gap_company" and messages[1]["gap"] == conditions.data["gaps"]["company"]
    from actions.eligibility import ActionEligibilityResult

    dispatcher = CollectingDispatcher()
    tracker = tracker_for(
        "affirm",
        slots={
            "licence_scope": "地网",
            "company_type": "内资",
            "capital": "500",
            "on_blacklist": True,
            "has_premises": False,
        },
    )
    await ActionEligibilityResult().run(dispatcher, tracker, {})
    gaps = {m["response"]: m.get("gap") for m in dispatcher.messages if m["response"].startswith("utter_gap_")}
    assert gaps == {
        "utter_gap_blacklist": conditions.data["gaps"]["blacklist"],
        "utter_gap_premises": conditions.data["gaps"]["premises"],
    }


def test_the_latest_intent_is_read_once_for_every_action():
    from actions.tracker import latest_intent

    assert latest_intent(tracker_for("ask_capital")) == "ask_capital"
    empty = tracker_for("x")
    empty.latest_message = {"text": "…"}  # a message NLU has not parsed (e.g. sent by an action)
    assert latest_intent(empty) == ""
