"""The reply decision (actions/decide.py): one table of situations and what the visitor gets.

Each row is a parse as Rasa would give it (model ranking, retrieval second opinion, in_field, entities)
and the decision expected. The rows sit on either side of each threshold, so a changed threshold shows
here, and what must hold whatever the model says (a fact's own question, the off-topic reply only for a
message naming nothing of the field) is checked with the model saying the opposite.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from actions import decide

ANSWERED = {
    "ask_validity",
    "ask_capital",
    "ask_conditions",
    "ask_materials",
    "ask_fees",
    "ask_time_limit",
    "ask_licence_types",
}
OWN = {decide.question_key("呼叫中心许可证有效期多久？"): "ask_validity"}
T = decide.DEFAULT_THRESHOLDS


def turn(intent, confidence=0.99, ranking=None, retrieval=(), in_field=None, entities=None, text="", **context):
    ranking = ranking if ranking is not None else [(intent, confidence)]
    return decide.Turn(
        said=tuple(entities or {}),
        intent=intent,
        confidence=confidence,
        ranking=tuple(ranking),
        retrieval=tuple(retrieval),
        in_field=in_field,
        entities=entities or {},
        text=text,
        **context,
    )


def where_guess(retrieval, **context):
    """An unsure model torn between who approves and the capital question, in a message of our field."""
    ranking = [("ask_licence_types", T.agreement_confidence), ("ask_capital", T.agreement_confidence)]
    return turn("nlu_fallback", 0.3, ranking, retrieval, in_field=True, **context)


# (case, turn, kind, detail): detail is the answered intent, the honest response or the first candidate
TABLE = [
    ("a sure answer", turn("ask_validity", 0.9), "answer", "ask_validity"),
    ("at the answer gate", turn("ask_validity", T.answer_min_confidence), "answer", "ask_validity"),
    (
        "just below the answer gate: the closest questions",
        turn("ask_validity", T.answer_min_confidence - 0.01),
        "clarify",
        "ask_validity",
    ),
    (
        "a close second guess: the closest questions",
        turn("ask_validity", 0.5, [("ask_validity", 0.5), ("ask_fees", 0.5 - T.answer_min_margin + 0.01)]),
        "clarify",
        "ask_validity",
    ),
    (
        "an unsure guess the second opinion prefers another answer to",
        turn(
            "ask_fees",
            0.5,
            [("ask_fees", 0.5), ("ask_validity", T.second_opinion_support)],
            [("ask_validity", T.second_opinion_similarity)],
        ),
        "answer",
        "ask_validity",
    ),
    (
        "the second opinion prefers an answer the model all but rules out: the model's",
        turn(
            "ask_fees",
            0.5,
            [("ask_fees", 0.5), ("ask_validity", T.second_opinion_support - 0.01)],
            [("ask_validity", 0.9)],
        ),
        "answer",
        "ask_fees",
    ),
    (
        "the second opinion too far to prefer",
        turn(
            "ask_fees",
            0.5,
            [("ask_fees", 0.5), ("ask_validity", 0.1)],
            [("ask_validity", T.second_opinion_similarity - 0.01)],
        ),
        "answer",
        "ask_fees",
    ),
    (
        "a fallback whose guess is also the closest example: both agree",
        turn(
            "nlu_fallback",
            0.25,
            [("ask_fees", T.agreement_confidence)],
            [("ask_fees", T.agreement_similarity)],
        ),
        "answer",
        "ask_fees",
    ),
    (
        "the same just short of agreement: the closest questions",
        turn(
            "nlu_fallback",
            0.25,
            [("ask_fees", T.agreement_confidence - 0.01)],
            [("ask_fees", T.agreement_similarity)],
        ),
        "clarify",
        "ask_fees",
    ),
    (
        "a sure off-topic guess naming nothing of the field",
        turn("out_of_scope", 0.99, retrieval=[("out_of_scope", 0.7)], in_field=False),
        "off_topic",
        None,
    ),
    (
        "a sure off-topic guess that names the field and is close to a question of ours",
        turn(
            "out_of_scope",
            1.0,
            [("out_of_scope", 1.0)],
            [("ask_validity", 0.89), ("out_of_scope", 0.3)],
            in_field=True,
        ),
        "clarify",
        "ask_validity",
    ),
    (
        "a sure off-topic guess that names the field but is like none of our questions",
        turn("out_of_scope", 1.0, [("out_of_scope", 1.0)], [("out_of_scope", 0.6), ("ask_fees", 0.2)], in_field=True),
        "honest",
        "utter_no_fact",
    ),
    (
        "an answer the second opinion finds off-topic, naming nothing of the field",
        turn("ask_fees", 0.8, retrieval=[("out_of_scope", 0.7), ("ask_fees", 0.4)], in_field=False),
        "off_topic",
        None,
    ),
    (
        "the same answer naming the field is kept",
        turn("ask_fees", 0.8, retrieval=[("out_of_scope", 0.7)], in_field=True),
        "answer",
        "ask_fees",
    ),
    (
        "the same answer too sure to overrule",
        turn("ask_fees", T.off_topic_overrule, retrieval=[("out_of_scope", 0.7), ("ask_fees", 0.4)], in_field=False),
        "answer",
        "ask_fees",
    ),
    (
        "an unsure who-approves guess about a message naming a place: who approves there",
        where_guess([("ask_capital", 0.3)], entities={"province": "山东省"}),
        "answer",
        "ask_licence_types",
    ),
    (
        "the same guess without a place: the closest questions",
        where_guess([("ask_capital", 0.4)]),
        "clarify",
        "ask_capital",
    ),
    (
        "an in-field fallback like none of our questions: honest",
        turn("nlu_fallback", 0.25, [("ask_capital", 0.2)], [("ask_capital", T.near - 0.01)], in_field=True),
        "honest",
        "utter_no_fact",
    ),
    (
        "an unsure guess of another licence",
        turn("nlu_fallback", 0.3, [("ask_other_licence", 0.3)], [("ask_other_licence", 0.5)], in_field=True),
        "honest",
        "utter_other_licence",
    ),
    (
        "another field's licence, named only with words other licences share, both opinions off-topic",
        replace(
            turn("out_of_scope", 1.0, [("out_of_scope", 1.0)], [("out_of_scope", 0.74)], in_field=True),
            names_field=False,
        ),
        "off_topic",
        None,
    ),
    (
        "the same naming our field itself",
        replace(
            turn("out_of_scope", 1.0, [("out_of_scope", 1.0)], [("out_of_scope", 0.74)], in_field=True),
            names_field=True,
        ),
        "honest",
        "utter_no_fact",
    ),
    (
        "another field's paper (驾驶证, 食品经营许可证) and only words other papers share: off-topic, however sure",
        replace(turn("ask_time_limit", 0.99, in_field=True), names_field=False, elsewhere=True),
        "off_topic",
        None,
    ),
    (
        "another field's paper beside our field's own name is answered",
        replace(turn("ask_time_limit", 0.99, in_field=True), names_field=True, elsewhere=True),
        "answer",
        "ask_time_limit",
    ),
    (
        "a sure model with no field word and no example of its question near: off-topic",
        turn("ask_fees", 0.89, retrieval=[("ask_fees", T.near - 0.01)], in_field=False),
        "off_topic",
        None,
    ),
    (
        "the same with an example near enough is answered",
        turn("ask_fees", 0.89, retrieval=[("ask_fees", T.near)], in_field=False),
        "answer",
        "ask_fees",
    ),
    ("a sure honest intent", turn("ask_uncovered", 0.9), "honest", "utter_no_fact"),
    ("a question no fact answers (yet)", turn("ask_something_new", 0.9), "missing", None),
    ("a button payload", turn("ask_fees", None, ranking=[]), "answer", "ask_fees"),
]


@pytest.mark.parametrize("case, t, kind, detail", TABLE, ids=[row[0] for row in TABLE])
def test_the_decision_table(case, t, kind, detail):
    decision = decide.decide(t, ANSWERED, OWN)
    assert decision.kind == kind, decision
    if kind == "answer":
        assert decision.intent == detail
    elif kind == "honest":
        assert decision.response == detail
    elif kind == "clarify":
        assert decision.candidates[0] == detail


@pytest.mark.parametrize("ending", ["", "？", "?", "？？？", "。", "!", " "])
def test_a_facts_own_question_gets_that_fact_whatever_the_model_says(ending):
    for model_says in (("out_of_scope", 1.0), ("thank", 0.99), ("nlu_fallback", 0.2), ("ask_fees", 0.97)):
        t = turn(*model_says, text="呼叫中心许可证有效期多久" + ending, in_field=True)
        assert decide.decide(t, ANSWERED, OWN) == decide.Decision("answer", "own question", intent="ask_validity")


def test_the_off_topic_reply_is_never_given_to_a_message_that_names_the_field():
    """Whatever the opinions say, a message naming the licence gets a fact, buttons, or an honest reply."""
    for intent, confidence in (("out_of_scope", 1.0), ("nlu_fallback", 0.1), ("ask_fees", 0.5)):
        for retrieval in ([("out_of_scope", 0.95)], [("out_of_scope", 0.5), ("ask_fees", 0.4)], []):
            t = replace(turn(intent, confidence, [(intent, confidence)], retrieval, in_field=True), names_field=True)
            assert decide.decide(t, ANSWERED, OWN).kind != "off_topic", (intent, retrieval)


def test_a_capital_with_a_can_we_apply_question_gets_the_verdict():
    t = turn("ask_conditions", 0.9, entities={"capital": 300, "licence_scope": "全网"})
    assert decide.decide(t, ANSWERED).kind == "verdict"
    unsure = turn("nlu_fallback", 0.3, [("ask_capital", 0.3), ("ask_conditions", 0.28)], entities={"capital": 300})
    assert decide.decide(unsure, ANSWERED).kind == "verdict"
    # an amount in a loan question is no situation
    loan = turn("ask_conditions", 0.9, retrieval=[("out_of_scope", 0.8)], entities={"capital": 20})
    assert decide.decide(loan, ANSWERED).kind != "verdict"
    # in a form, a message the model did not understand is left to the form
    in_form = turn("nlu_fallback", 0.3, [("ask_capital", 0.3), ("ask_conditions", 0.28)], entities={"capital": 300})
    assert decide.decide(replace(in_form, in_form=True), ANSWERED).kind != "verdict"


def test_a_follow_up_answers_the_previous_topic_or_a_place_says_who_approves():
    t = turn("ask_followup", 0.9, entities={"licence_scope": "地网"}, previous_fact="conditions.capital")
    assert decide.decide(t, ANSWERED) == decide.Decision("answer", "follow-up", fact_key="conditions.capital")
    place = turn("inform", 0.9, entities={"province": "江苏省"})
    assert decide.decide(place, ANSWERED).fact_key == decide.WHERE_FACT
    nothing = turn("ask_followup", 0.9, [("ask_followup", 0.9), ("ask_fees", 0.05)])
    assert decide.decide(nothing, ANSWERED).kind == "clarify"


def test_unsure_twice_offers_a_consultant_but_off_topic_stays_off_topic():
    unsure = turn("nlu_fallback", 0.3, [("ask_capital", 0.3), ("ask_fees", 0.25)], failed_before=True)
    assert decide.decide(unsure, ANSWERED).kind == "consultant"
    weather = turn("out_of_scope", 0.99, retrieval=[("out_of_scope", 0.8)], in_field=False, failed_before=True)
    assert decide.decide(weather, ANSWERED).kind == "off_topic"


def test_a_comparison_of_two_values_is_not_a_case():
    entities = [{"entity": "licence_scope", "value": "全网"}, {"entity": "licence_scope", "value": "地网"}]
    assert decide.message_entities(entities) == {}
    assert decide.message_entities([*entities[:1], {"entity": "province", "value": "上海市"}]) == {
        "licence_scope": "全网",
        "province": "上海市",
    }


def test_the_turn_reads_a_rasa_parse():
    parse = {
        "text": "呼叫中心许可证有效期多久？",
        "normalized_text": "呼叫中心许可证有效期多久",
        "intent": {"name": "out_of_scope", "confidence": 1.0},
        "intent_ranking": [{"name": "out_of_scope", "confidence": 1.0}, {"name": "nlu_fallback", "confidence": 0.3}],
        "retrieval": [{"name": "ask_validity", "similarity": 0.89}, "junk"],
        "in_field": True,
        "entities": [{"entity": "licence_scope", "value": "全网"}],
    }
    t = decide.Turn.from_parse(parse, previous_fact="licence.types")
    assert t.ranking == (("out_of_scope", 1.0),)
    assert t.retrieval == (("ask_validity", 0.89),)
    assert t.text == "呼叫中心许可证有效期多久" and t.in_field is True and t.entities == {"licence_scope": "全网"}
    assert decide.decide(t, ANSWERED, OWN).intent == "ask_validity"


def test_a_second_question_in_its_own_clause_is_answered_too():
    clauses = (("ask_capital", 0.7), ("ask_time_limit", T.second_question))
    t = replace(turn("ask_capital", 0.9), clauses=clauses)
    assert decide.decide(t, ANSWERED).also == ("ask_time_limit",)
    weak = replace(t, clauses=(("ask_capital", 0.7), ("ask_time_limit", T.second_question - 0.01)))
    assert decide.decide(weak, ANSWERED).also == ()
    # the clauses do not see the model's question: not trusted
    unrelated = replace(t, clauses=(("ask_fees", 0.7), ("ask_time_limit", 0.9)))
    assert decide.decide(unrelated, ANSWERED).also == ()


def test_a_sole_trader_asking_whether_it_can_apply_gets_the_verdict_that_it_must_be_a_company():
    for intent in ("ask_need_licence", "ask_conditions", "check_eligibility"):
        t = turn(intent, 0.8, entities={"company_type": "个体户"})
        assert decide.decide(t, ANSWERED).kind == "verdict", intent
    assert decide.decide(turn("ask_fees", 0.8, entities={"company_type": "个体户"}), ANSWERED).kind == "answer"
    # the model unsure what is asked: a sole trader naming itself and the licence gets the same verdict
    unsure = turn("nlu_fallback", 0.3, [("ask_capital", 0.17), ("ask_hk_macau_taiwan", 0.1)], in_field=True)
    named = replace(unsure, entities={"company_type": "个体户"}, said=("company_type",))
    assert decide.decide(named, ANSWERED).kind == "verdict"
    # ... but not when it was told in an earlier message, or the message names nothing of the licence
    told_before = replace(unsure, entities={"company_type": "个体户"})
    assert decide.decide(told_before, ANSWERED).kind != "verdict"
    assert decide.decide(replace(named, in_field=False), ANSWERED).kind != "verdict"


def test_in_a_conversation_about_the_licence_an_unclear_message_is_not_sent_off_topic():
    unclear = turn("nlu_fallback", 0.3, [("ask_annual_report_missed", 0.28)], [("ask_annual_report", 0.3)])
    unclear = replace(unclear, in_field=False)
    assert decide.decide(unclear, ANSWERED).kind == "off_topic"  # a first message naming nothing of ours
    assert decide.decide(replace(unclear, previous_fact="annual.report"), ANSWERED).kind != "off_topic"
    weather = replace(unclear, previous_fact="annual.report", retrieval=(("out_of_scope", 0.6),))
    assert decide.decide(weather, ANSWERED).kind == "off_topic"  # an off-topic example is closest: still off


def test_a_follow_up_needs_a_detail_of_its_own_not_only_one_told_before():
    told = decide.Turn.from_parse(
        {"intent": {"name": "ask_followup", "confidence": 0.9}, "intent_ranking": [], "entities": []},
        previous_fact="conditions.capital",
        told_before={"province": "福建省"},
    )
    assert told.entities == {"province": "福建省"} and told.said == ()
    assert decide.decide(told, ANSWERED).kind != "answer"


def test_the_second_opinion_overrules_the_model_for_a_message_naming_nothing_of_the_field_only_when_close():
    chat = turn("ask_fees", 0.3, [("ask_fees", 0.3), ("ask_capital", 0.1)], [("ask_capital", 0.4)], in_field=False)
    assert decide.decide(chat, ANSWERED).intent != "ask_capital"
    assert decide.decide(replace(chat, in_field=True), ANSWERED).intent == "ask_capital"
    close = replace(chat, retrieval=(("ask_capital", T.in_scope),))
    assert decide.decide(close, ANSWERED).intent == "ask_capital"


@pytest.mark.parametrize("text", ["2", "？？", "……"])
def test_a_message_without_a_word_is_not_understood_and_said_so_or_left_to_the_form(text):
    # the NLU gives such a message the fallback (bot/plugins/nlu/wordless.py); whatever it ranks second
    bare = turn("nlu_fallback", 1.0, [("goodbye", 0.6), ("out_of_scope", 0.3)], [("out_of_scope", 0.9)], text=text)
    assert decide.decide(bare, ANSWERED) == decide.Decision("clarify", "no words")
    assert decide.decide(replace(bare, failed_before=True), ANSWERED).kind == "consultant"
    assert decide.decide(replace(bare, in_form=True), ANSWERED).kind == "form"
    assert decide.decide(replace(bare, text=f"{text}年报"), ANSWERED).why != "no words"


def test_a_follow_up_with_nothing_asked_before_answers_the_fact_for_the_case_it_names():
    def first(entities, intent="ask_followup"):
        return decide.decide(turn(intent, 0.95, entities=entities), ANSWERED)

    assert first({"licence_scope": "地网"}).fact_key == decide.WHERE_FACT  # 「那省内呢」: who approves
    assert first({"province": "江苏省"}, "inform").fact_key == decide.WHERE_FACT
    assert first({"company_type": "外资"}).fact_key == "foreign.investment"
    assert first({"company_type": "内资"}, "inform").fact_key == "conditions.all"
    # 「我们是外商独资，只想在江苏省内做」: who approves, for a foreign investor
    assert first({"company_type": "外资", "province": "江苏省"}, "inform").fact_key == decide.WHERE_FACT
    assert first({}).kind == "clarify"  # 「那呢」 names nothing: nothing to answer
    weather = turn("inform", 0.96, retrieval=[("out_of_scope", 0.41)], in_field=False, entities={"province": "广东省"})
    assert decide.decide(weather, ANSWERED).kind == "off_topic"  # 「广州今天多少度」


def test_an_unsure_model_and_a_second_opinion_both_reading_a_follow_up_answer_the_previous_topic():
    narrowed = turn(
        "nlu_fallback",
        0.3,
        [("ask_followup", T.agreement_confidence), ("ask_icp_difference", 0.12)],
        [("ask_followup", T.agreement_similarity), ("out_of_scope", 0.3)],
        entities={"licence_scope": "地网", "province": "福建省"},
        previous_fact="licence.types",
    )
    decision = decide.decide(narrowed, ANSWERED)
    assert decision == decide.Decision("answer", "follow-up", fact_key="licence.types")
    assert decision.label(narrowed) == "ask_followup"
    alone = replace(narrowed, retrieval=(("ask_materials", 0.5),))  # one opinion only: not a follow-up
    assert decide.decide(alone, ANSWERED).why != "follow-up"


def test_an_unsure_model_sure_only_that_the_message_narrows_the_question_answers_the_previous_topic():
    def narrowing(together):
        return turn(
            "nlu_fallback",
            0.3,
            [("ask_followup", together / 2 + 0.02), ("inform", together / 2 - 0.02), ("ask_capital", 0.1)],
            [("ask_capital", 0.39)],
            entities={"licence_scope": "地网"},
            previous_fact="conditions.capital",
        )

    assert decide.decide(narrowing(T.follow_up_together), ANSWERED).fact_key == "conditions.capital"
    assert decide.decide(narrowing(T.follow_up_together - 0.02), ANSWERED).why != "follow-up"
