"""The fact answer (actions/answer.py and the decision it renders), run against a real SQLite facts database."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFact
from bot.store import facts
from tests.support.actions import run, tracker_for


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
    assert corrections[0]["since"] == "（2017年起）"


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


@pytest.mark.parametrize(
    "intent",
    [
        "ask_definition",
        "ask_licence_types",
        "ask_process",
        "ask_materials",
        "ask_conditions",
        "ask_penalty",
        "ask_numbers_95_96",
        "ask_exemptions",
    ],
)
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


async def test_province_entity_names_the_provincial_bureau(database_url):
    messages, _ = await run(
        ActionAnswerFact(), "ask_licence_types", entities={"province": "广东省", "licence_scope": "地网"}
    )
    answer, exception = messages[0]["answer"].split("\n")
    assert "广东省通信管理局" in answer and "工业和信息化部" not in answer
    # the visitor did not say what company it is: the foreign-invested exception follows (issue #22)
    assert exception.startswith("外商投资企业") and "工业和信息化部" in exception


async def test_a_place_told_in_an_earlier_message_holds_for_the_next_question(database_url):
    """Issue #21: 「我们公司在厦门」 then 「地网证去哪办」 lost the place; a place told again wins."""
    earlier = [
        {
            "event": "user",
            "text": "我们公司在厦门",
            "parse_data": {"entities": [{"entity": "province", "value": "福建省"}]},
        },
        {"event": "bot", "text": "……"},
        {
            "event": "user",
            "text": "地网证去哪办",
            "parse_data": {"entities": [{"entity": "licence_scope", "value": "地网"}]},
        },
    ]
    messages, _ = await run(ActionAnswerFact(), "ask_licence_types", entities={"licence_scope": "地网"}, events=earlier)
    assert "福建省通信管理局" in messages[0]["answer"]
    messages, _ = await run(
        ActionAnswerFact(),
        "ask_licence_types",
        entities={"licence_scope": "地网", "province": "广东省"},
        events=earlier,
    )
    assert "广东省通信管理局" in messages[0]["answer"] and "福建" not in messages[0]["answer"]
    restarted = [*earlier[:2], {"event": "session_started"}, earlier[2]]
    messages, _ = await run(
        ActionAnswerFact(), "ask_licence_types", entities={"licence_scope": "地网"}, events=restarted
    )
    assert "福建" not in messages[0]["answer"]


async def test_scope_entity_picks_the_scope_answer(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"licence_scope": "地网"})
    assert "100万元" in messages[0]["answer"] and "1000万元" not in messages[0]["answer"]


async def test_capital_too_small_for_national_licence_says_no_and_why(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"capital": 500, "licence_scope": "全网"})
    assert messages[0]["response"] == "utter_capital_short"
    assert (messages[0]["capital"], messages[0]["minimum"], messages[0]["scope"]) == ("500", "1000", "全网")
    assert messages[1]["response"] == "utter_capital_alternative_local"


async def test_capital_enough_for_local_licence(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"capital": 200, "licence_scope": "地网"})
    assert messages[0]["response"] == "utter_capital_enough"
    assert messages[0]["minimum"] == "100"


async def test_capital_thresholds_come_from_the_database(session):
    fact = facts.fact_for_intent("ask_capital", session=session)
    fact.data = {"capital_min_wan": {"local": 300, "national": 1000}}
    session.commit()
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"capital": 200, "licence_scope": "地网"})
    assert messages[0]["response"] == "utter_capital_short" and messages[0]["minimum"] == "300"


async def test_follow_up_answers_the_previous_topic_for_the_new_case(database_url):
    messages, events = await run(
        ActionAnswerFact(), "ask_followup", entities={"licence_scope": "地网"}, slots={"fact_key": "conditions.capital"}
    )
    assert "100万元" in messages[0]["answer"] and "1000万元" not in messages[0]["answer"]
    assert events[0]["value"] == "conditions.capital"


async def test_follow_up_without_a_previous_topic_answers_for_the_case_it_names_or_asks_what_was_meant(
    database_url,
):
    ranking = [{"name": "ask_followup", "confidence": 0.9}, {"name": "ask_licence_types", "confidence": 0.05}]
    # 「那省内呢」 as a first message: who approves the provincial licence
    messages, events = await run(
        ActionAnswerFact(), "ask_followup", entities={"licence_scope": "地网"}, ranking=ranking
    )
    assert messages[0]["response"] == "utter_fact" and messages[0]["fact_key"] == "licence.types"
    assert "通信管理局" in messages[0]["answer"]
    # 「那呢」 names nothing: what was meant is asked
    messages, _ = await run(ActionAnswerFact(), "ask_followup", ranking=ranking)
    assert messages[0]["response"] == "utter_clarify"


LOW = [
    {"name": "ask_capital", "confidence": 0.42},
    {"name": "ask_conditions", "confidence": 0.38},
    {"name": "ask_materials", "confidence": 0.1},
    {"name": "greet", "confidence": 0.05},
]


async def test_unsure_answer_offers_the_three_closest_questions(database_url):
    messages, events = await run(ActionAnswerFact(), "ask_capital", confidence=0.42, ranking=LOW)
    assert events == []
    assert messages[0]["response"] == "utter_clarify"
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/ask_capital", "/ask_conditions", "/ask_materials"]
    assert messages[0]["buttons"][0]["title"] == "办呼叫中心许可证注册资本要多少？"


async def test_close_second_answer_also_asks(database_url):
    close = [{"name": "ask_validity", "confidence": 0.52}, {"name": "ask_renewal", "confidence": 0.46}]
    messages, _ = await run(ActionAnswerFact(), "ask_validity", confidence=0.52, ranking=close)
    assert messages[0]["response"] == "utter_clarify"


async def test_fallback_that_looks_off_topic_gets_the_scope_answer(database_url):
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "out_of_scope", "confidence": 0.35},
        {"name": "ask_fees", "confidence": 0.2},
    ]
    messages, _ = await run(ActionAnswerFact(), "nlu_fallback", confidence=0.4, ranking=ranking)
    assert messages[0]["response"] == "utter_out_of_scope"


async def test_repeated_failure_offers_a_consultant(database_url):
    events = [
        {"event": "user", "text": "abc"},
        {"event": "action", "name": "action_answer_fact"},
        {"event": "bot", "text": "您是想问……", "metadata": {"utter_action": "utter_clarify"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "xyz"},
    ]
    messages, _ = await run(ActionAnswerFact(), "nlu_fallback", confidence=0.3, ranking=LOW, events=events)
    assert messages[0]["response"] == "utter_clarify_consultant"


async def test_comparison_of_both_scopes_gets_the_general_answer(database_url):
    tracker = tracker_for("ask_licence_types")
    tracker.latest_message["entities"] = [
        {"entity": "licence_scope", "value": "全网"},
        {"entity": "licence_scope", "value": "地网"},
    ]
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert "工业和信息化部" in dispatcher.messages[0]["answer"] and "通信管理局" in dispatcher.messages[0]["answer"]


async def test_a_clarification_long_ago_does_not_count_as_repeated(database_url):
    events = [
        {"event": "user", "text": "abc"},
        {"event": "bot", "text": "您是想问……", "metadata": {"utter_action": "utter_clarify"}},
        {"event": "user", "text": "注册资本要多少"},
        {"event": "bot", "text": "地网不少于100万元"},
        {"event": "user", "text": "xyz"},
    ]
    messages, _ = await run(ActionAnswerFact(), "nlu_fallback", confidence=0.3, ranking=LOW, events=events)
    assert messages[0]["response"] == "utter_clarify"


async def test_a_situation_with_its_capital_gets_the_verdict_whatever_was_asked(database_url):
    """「杭州的民营公司，注册资本300万，接全国的客服外包，能办吗」 read as the conditions question."""
    messages, events = await run(
        ActionAnswerFact(), "ask_conditions", entities={"capital": 300, "licence_scope": "全网", "province": "浙江省"}
    )
    assert messages[0]["response"] == "utter_capital_short"
    assert (messages[0]["scope"], messages[0]["capital"], messages[0]["minimum"]) == ("全网", "300", "1000")
    assert [m["response"] for m in messages][1:] == ["utter_capital_alternative_local", "utter_eligibility_next"]
    assert events[0]["value"] == "conditions.capital"


async def test_a_sole_trader_is_told_no_first_whatever_its_capital(database_url):
    messages, _ = await run(
        ActionAnswerFact(),
        "ask_need_licence",
        entities={"capital": 500, "licence_scope": "地网", "company_type": "个体户"},
    )
    assert [m["response"] for m in messages][:2] == ["utter_eligibility_not_yet", "utter_gap_company"]
    assert messages[0]["licence"] == "地网"


async def test_an_unsure_situation_whose_likely_readings_all_ask_for_a_verdict_gets_it(database_url):
    ranking = [{"name": "ask_capital", "confidence": 0.41}, {"name": "ask_conditions", "confidence": 0.39}]
    messages, _ = await run(
        ActionAnswerFact(),
        "ask_capital",
        confidence=0.41,
        ranking=ranking,
        entities={"capital": 2000, "licence_scope": "全网"},
    )
    assert messages[0]["response"] == "utter_capital_enough"


def with_retrieval(ranking: list, retrieval: list, intent: str = "nlu_fallback", confidence: float = 0.25):
    tracker = tracker_for(intent, confidence=confidence, ranking=ranking)
    tracker.latest_message["retrieval"] = retrieval
    return tracker


async def test_an_in_scope_question_like_none_we_answer_gets_the_honest_reply(database_url):
    tracker = with_retrieval(LOW, [{"name": "ask_capital", "similarity": 0.21}, {"name": "greet", "similarity": 0.1}])
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_no_fact"]


async def test_a_question_close_to_ours_gets_buttons_ranked_with_the_second_opinion(database_url):
    tracker = with_retrieval(
        LOW, [{"name": "ask_materials", "similarity": 0.8}, {"name": "ask_capital", "similarity": 0.3}]
    )
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_clarify"
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]][0] == "/ask_materials"


async def test_an_off_topic_guess_is_overruled_when_the_message_is_close_to_a_licence_question(database_url):
    ranking = [{"name": "out_of_scope", "confidence": 0.4}, {"name": "ask_fees", "confidence": 0.3}]
    tracker = with_retrieval(ranking, [{"name": "ask_fees", "similarity": 0.75}])
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_clarify"
    tracker = with_retrieval(
        ranking, [{"name": "out_of_scope", "similarity": 0.7}, {"name": "ask_fees", "similarity": 0.2}]
    )
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_out_of_scope"


async def test_an_unsure_guess_of_another_licence_still_gets_the_honest_reply(database_url):
    ranking = [{"name": "ask_other_licence", "confidence": 0.3}, {"name": "ask_definition", "confidence": 0.25}]
    tracker = with_retrieval(ranking, [{"name": "ask_other_licence", "similarity": 0.5}])
    dispatcher = CollectingDispatcher()
    await ActionAnswerFact().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_other_licence"


async def test_a_renewal_question_about_a_licence_never_used_opens_with_no(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_renewal", entities={"operation": "未开通"})
    assert messages[0]["answer"].startswith("有效期内一直未开通的业务不予延续")


async def test_a_national_case_in_a_named_province_is_answered_for_the_national_licence(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_process", entities={"province": "上海市", "licence_scope": "全网"})
    assert "工业和信息化部" in messages[0]["answer"] and "地网" not in messages[0]["answer"]


async def test_a_place_told_first_gets_who_approves_there(database_url):
    """「我们在苏州，只做本地」 as the first message: the provincial bureau, not 「您是想问……」."""
    messages, events = await run(
        ActionAnswerFact(),
        "inform",
        entities={"province": "江苏省", "licence_scope": "地网"},
        ranking=[{"name": "inform", "confidence": 0.5}, {"name": "ask_licence_types", "confidence": 0.3}],
    )
    assert "江苏省通信管理局" in messages[0]["answer"]
    assert events[0]["value"] == "licence.types"


async def test_the_second_opinion_answers_when_the_model_is_unsure_and_an_example_is_close(database_url):
    tracker = with_retrieval(
        [{"name": "ask_conditions", "confidence": 0.6}, {"name": "ask_numbers_95_96", "confidence": 0.3}],
        [{"name": "ask_numbers_95_96", "similarity": 0.66}],
        intent="ask_conditions",
        confidence=0.6,
    )
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFact().run(dispatcher, tracker, {})
    assert events[0]["value"] == "numbers.95_96"
    tracker = with_retrieval(
        [{"name": "ask_conditions", "confidence": 0.9}],
        [{"name": "ask_numbers_95_96", "similarity": 0.66}],
        intent="ask_conditions",
        confidence=0.9,
    )
    events = await ActionAnswerFact().run(CollectingDispatcher(), tracker, {})
    assert events[0]["value"] == "conditions.all"  # a sure model keeps its answer


async def test_every_fact_is_answered_for_its_own_intent(session):
    """Audit §0.1: no fact is out of the chat's reach (the REST twin is tests/e2e/test_every_fact.py)."""
    keys = {f.key: f.intent for f in facts.all_facts(session=session)}
    assert None not in keys.values()
    for key, intent in keys.items():
        _, events = await run(ActionAnswerFact(), intent)
        assert events == [{"event": "slot", "timestamp": None, "name": "fact_key", "value": key}], intent


async def test_a_misconception_is_not_called_outdated(database_url):
    """Audit §0.4: 「至少给3名员工交三个月社保」 never was a rule."""
    messages, _ = await run(ActionAnswerFact(), "ask_staff")
    corrections = [
        m for m in messages if m["response"].startswith("utter_fact_misc") or m["response"] == "utter_fact_correction"
    ]
    assert [m["response"] for m in corrections] == ["utter_fact_misconception"]
    assert "社保" in corrections[0]["claim"] and "since" not in corrections[0]


async def test_an_outdated_rule_and_a_misconception_of_one_fact_each_get_their_wording(database_url):
    messages, _ = await run(ActionAnswerFact(), "ask_materials")
    kinds = [(m["response"], m.get("since")) for m in messages if "claim" in m]
    assert kinds == [("utter_fact_correction", "（2017年起）"), ("utter_fact_misconception", None)]


async def test_a_claim_true_for_some_visitors_is_not_called_wrong(database_url):
    """Issue #22: 「全网、地网都由工信部审查」 is true for foreign-invested companies; expert review never was."""
    messages, _ = await run(ActionAnswerFact(), "ask_process", entities={"company_type": "外资"})
    kinds = [(m["response"], m["claim"]) for m in messages if "claim" in m]
    assert kinds == [
        ("utter_fact_partial", "全网、地网都由工信部审查"),
        ("utter_fact_misconception", "工信部会“组织专家进行材料审批”"),
    ]
    partial = next(m for m in messages if m["response"] == "utter_fact_partial")
    assert "外商投资企业" in partial["current"] and "内资企业" in partial["current"]


async def test_the_capital_verdict_says_what_the_capital_fact_says_about_paying_in(session):
    fact = facts.get_fact("conditions.capital", session=session)
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"capital": 2000, "licence_scope": "全网"})
    assert messages[0]["response"] == "utter_capital_enough" and messages[0]["paid_in"] == fact.data["paid_in"]
    fact.data = {**fact.data, "paid_in": "认缴即可（已由工作人员复核）。"}
    session.commit()
    messages, _ = await run(ActionAnswerFact(), "ask_capital", entities={"capital": 2000, "licence_scope": "全网"})
    assert messages[0]["paid_in"] == "认缴即可（已由工作人员复核）。"


async def test_an_unsure_model_whose_guess_is_also_the_closest_example_answers_it(database_url):
    """The model fell back, but its best guess and the second opinion's closest question agree."""
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.3},
        {"name": "ask_online_system", "confidence": 0.25},
        {"name": "ask_process", "confidence": 0.2},
    ]
    tracker = with_retrieval(
        ranking, [{"name": "ask_online_system", "similarity": 0.6}, {"name": "ask_process", "similarity": 0.45}]
    )
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFact().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["response"] == "utter_fact" and events[0]["value"] == "process.online_system"
    # the same in ActionAnswerFact when the guess is below the answer gate
    tracker = with_retrieval(
        ranking[1:], [{"name": "ask_online_system", "similarity": 0.6}], intent="ask_online_system", confidence=0.25
    )
    events = await ActionAnswerFact().run(CollectingDispatcher(), tracker, {})
    assert events[0]["value"] == "process.online_system"
    # they disagree, or the example is not close: still the buttons
    for retrieval in ([{"name": "ask_process", "similarity": 0.6}], [{"name": "ask_online_system", "similarity": 0.2}]):
        dispatcher = CollectingDispatcher()
        await ActionAnswerFact().run(dispatcher, with_retrieval(ranking, retrieval), {})
        assert dispatcher.messages[0]["response"] != "utter_fact"


async def test_two_questions_in_one_message_get_both_answers(database_url):
    """Issue #21: 「无证经营罚多少？官方收费吗」 got one answer (or, with a 「？」 between them, none)."""
    tracker = tracker_for("ask_penalty", confidence=0.9)
    tracker.latest_message["clauses"] = [
        {"text": "无证经营罚多少", "name": "ask_penalty", "similarity": 0.8},
        {"text": "官方收费吗", "name": "ask_fees", "similarity": 0.75},
    ]
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFact().run(dispatcher, tracker, {})
    quoted = [m.get("fact_key") for m in dispatcher.messages if m.get("response") == "utter_fact"]
    assert quoted == ["penalty.unlicensed", "process.fees"]
    assert events[-1]["value"] == "penalty.unlicensed"  # a follow-up refers to the first question


async def test_a_sole_trader_is_told_the_applicant_must_be_a_company_without_naming_a_capital(database_url):
    """Issue #21: 「我是个体工商户，能办呼叫中心证吗」 got the "which businesses need it" answer."""
    messages, events = await run(ActionAnswerFact(), "ask_need_licence", entities={"company_type": "个体户"})
    assert [m["response"] for m in messages][:2] == ["utter_eligibility_not_yet", "utter_gap_company"]
    assert "公司" in messages[1]["gap"]
    assert events[-1]["value"] == "conditions.all"
