"""What the visitor saw, read from the tracker, and how it is judged and summed up (tools/evaluate/judge.py)."""

from __future__ import annotations

import pytest

from tests.support.evaluation import fact_answer, make_case
from tools.evaluate import judge as judging
from tools.evaluate.judge import CaseResult, Outcome, classify, judge, summarise

# ------------------------------------------------------------------ reading the tracker


def _user(text: str) -> dict:
    return {"event": "user", "text": text, "parse_data": {}}


def _bot(response: str, text: str, buttons: list | None = None) -> dict:
    return {"event": "bot", "text": text, "metadata": {"utter_action": response}, "data": {"buttons": buttons}}


def _slot(name: str, value) -> dict:
    return {"event": "slot", "name": name, "value": value}


def _action(name: str) -> dict:
    return {"event": "action", "name": name}


def _tracker(*events: dict, slots: dict | None = None) -> dict:
    return {"events": [_action("action_session_start"), *events], "slots": slots or {}}


def test_a_fact_answer_is_read_from_the_fact_key_set_in_this_turn():
    outcome = classify(
        _tracker(
            _user("全网和地网有什么区别"),
            _slot("fact_key", "licence.types"),  # an earlier turn
            _user("注销怎么办"),
            _action("action_answer_fact"),
            _bot("utter_fact", "停止经营呼叫中心业务的，应提前90日…\n依据：电信条例"),
            _bot("utter_fact_correction", "注意：…"),
            _slot("fact_key", "licence.cancellation"),
        )
    )
    assert (outcome.kind, outcome.fact_key) == ("fact", "licence.cancellation")
    assert outcome.answer.startswith("停止经营")
    assert len(outcome.texts) == 2


def test_an_earlier_turns_fact_does_not_count_for_a_clarifying_reply():
    outcome = classify(
        _tracker(
            _user("全网证要多少注册资本"),
            _bot("utter_fact", "全网…"),
            _slot("fact_key", "conditions.capital"),
            _user("那地网呢"),
            _bot("utter_clarify", "您是想问……", [{"title": "…", "payload": "/ask_capital"}]),
        )
    )
    assert (outcome.kind, outcome.fact_key) == ("clarify", None)


def test_a_capital_answer_is_a_verdict_with_its_fact():
    outcome = classify(
        _tracker(
            _user("注册资本500万能办全网吗"),
            _bot("utter_capital_short", "不能。全网要求注册资本不少于1000万元…"),
            _bot("utter_capital_alternative_local", "可以先只在一个省经营、申请地网…"),
            _slot("fact_key", "conditions.capital"),
        )
    )
    assert (outcome.kind, outcome.fact_key) == ("verdict", "conditions.capital")
    assert outcome.answer.startswith("不能。全网")


def test_the_pre_check_asking_is_a_form_with_the_slot_it_asks_for():
    outcome = classify(
        _tracker(
            _user("我们是外资，帮我看看能不能办"),
            _slot("company_type", "外资"),
            _bot("utter_eligibility_start", "好的，我问您几个问题…"),
            {"event": "active_loop", "name": "eligibility_form"},
            _slot("requested_slot", "licence_scope"),
            _bot("utter_ask_licence_scope", "您的呼叫中心业务要覆盖几个省？"),
            slots={"company_type": "外资", "requested_slot": "licence_scope"},
        )
    )
    assert (outcome.kind, outcome.asked) == ("form", "licence_scope")
    assert outcome.slots["company_type"] == "外资"


@pytest.mark.parametrize(
    "events, kind",
    [
        ([_bot("utter_out_of_scope", "抱歉，这个问题不在我的服务范围内…")], "off_topic"),
        ([_bot("utter_greet", "您好！…")], "greeting"),
        ([_bot("utter_bot_challenge", "我是智能助手…")], "bot_identity"),
        (
            [_bot("utter_lead_start", "好的，请留下联系方式…"), _bot("utter_ask_lead_name", "请问怎么称呼您？")],
            "consultant",
        ),
        ([_action("action_request_handoff"), _bot("utter_handoff_queued", "好的，正在为您转接人工顾问…")], "handoff"),
        (
            [
                _bot(
                    "utter_clarify_consultant",
                    "抱歉，我还是没能理解…",
                    [{"title": "联系顾问", "payload": "/request_consultant"}],
                )
            ],
            "honest_unknown",
        ),
        ([_bot("utter_fact_missing", "抱歉，这个问题的资料正在整理中…您可以联系顾问：…")], "honest_unknown"),
        # a response added later is still recognised by what it offers
        (
            [
                _bot(
                    "utter_no_fact",
                    "这个问题我还没有确切资料",
                    [{"title": "联系顾问", "payload": "/request_consultant"}],
                )
            ],
            "honest_unknown",
        ),
        ([_bot("utter_facts_unavailable", "抱歉，知识库暂时无法访问…联系顾问")], "error"),
        ([_bot("utter_anything_else", "好的。还有其他关于呼叫中心许可证的问题吗？")], "other"),
        ([], "other"),
    ],
)
def test_replies_are_classified_by_what_the_visitor_sees(events, kind):
    assert classify(_tracker(_user("…"), *events)).kind == kind


# ------------------------------------------------------------------ judging an outcome


def test_a_right_fact_is_correct_and_any_other_fact_is_a_wrong_confident_answer():
    case = make_case(facts=("licence.cancellation",))
    assert judge(case, fact_answer("licence.cancellation", "停止经营…")).correct
    wrong = judge(case, fact_answer("annual.report", "许可证年检已改为年报…"))
    assert (wrong.category, wrong.reason) == (judging.WRONG, "answered fact annual.report")


def test_an_on_topic_fact_listed_as_partial_is_a_miss_but_not_a_wrong_answer():
    case = make_case(eligibility=("verdict",), partial=("conditions.capital",))
    assert judge(case, fact_answer("conditions.capital", "注册资本：地网…")).category == judging.INCOMPLETE
    assert judge(case, fact_answer("licence.types", "业务覆盖两个及以上省份…")).category == judging.WRONG


def test_an_answer_that_opens_with_the_wrong_yes_or_no_is_wrong():
    case = make_case(facts=("licence.provincial_filing", "licence.changes"), polarity="no")
    changes = "要。公司名称、法定代表人…另外，2017年起跨地区增值电信业务已不需要再到各省备案。"
    assert judge(case, fact_answer("licence.changes", changes)).category == judging.WRONG
    assert judge(case, fact_answer("licence.provincial_filing", "2017年起取消了…备案的要求。")).correct


@pytest.mark.parametrize(
    "text, expected",
    [
        ("要。…已不需要再到各省备案。", "yes"),
        ("不能。全网要求注册资本不少于1000万元", "no"),
        ("可以。地网要求注册资本不少于100万元，您的150万元满足这一条", "yes"),
        ("根据您提供的信息，贵公司满足申请地网的主要条件：依法设立的公司…未列入失信名单", "yes"),
        ("根据您提供的信息，目前还不能申请全网，还差以下几点：", "no"),
        ("95/96号码是码号资源，需单独申请码号审批，不包含在呼叫中心许可证里。", "no"),
        ("2017年起取消了跨地区增值电信业务经营者到各省通信管理局备案的要求。", "no"),
    ],
)
def test_polarity_reads_the_first_sentence(text, expected):
    assert judging.polarity(text) == expected


def test_scope_and_mentions_are_checked_on_a_right_fact():
    case = make_case(facts=("licence.types",), scope="全网", mentions=("工业和信息化部|工信部",))
    national = "全网（业务覆盖两个及以上省份）由工业和信息化部审批…"
    assert judge(case, fact_answer("licence.types", national)).correct
    assert judge(case, fact_answer("licence.types", "地网由所在省的通信管理局审批…")).category == judging.WRONG
    general = "业务覆盖两个及以上省份的，办“全网”：由工业和信息化部核发…只在一个省…办“地网”…"
    assert judge(case, fact_answer("licence.types", general)).category == judging.INCOMPLETE
    bureau = make_case(facts=("licence.types",), mentions=("江苏省通信管理局",))
    assert judge(bureau, fact_answer("licence.types", "在江苏省办地网，找江苏省通信管理局…")).correct
    missing = judge(bureau, fact_answer("licence.types", "只在一个省经营的，由该省通信管理局…"))
    assert (missing.category, missing.reason) == (judging.INCOMPLETE, "does not mention 江苏省通信管理局")


def test_a_verdict_must_be_asked_for_and_say_the_right_licence_and_answer():
    case = make_case(eligibility=("verdict",), scope="全网", polarity="no")
    short = Outcome("verdict", "conditions.capital", "不能。全网要求注册资本不少于1000万元…", texts=["不能。全网…"])
    assert judge(case, short).correct
    enough = Outcome("verdict", "conditions.capital", "可以。全网要求注册资本不少于1000万元…", texts=["可以。"])
    assert judge(case, enough).category == judging.WRONG
    local = Outcome("verdict", None, "根据您提供的信息，目前还不能申请地网，还差以下几点：", texts=["…"])
    assert judge(case, local).category == judging.WRONG
    assert judge(make_case(facts=("conditions.capital",)), short).correct  # a capital verdict is that fact too
    assert judge(make_case(facts=("licence.types",)), short).category == judging.WRONG


def test_a_form_must_not_ask_again_for_what_the_visitor_said():
    case = make_case(eligibility=("form",), known={"licence_scope": "全网", "capital": 3000})
    slots = {"licence_scope": "全网", "capital": 3000.0}
    assert judge(case, Outcome("form", asked="on_blacklist", slots=slots)).correct
    assert judge(case, Outcome("form", asked="capital", slots=slots)).reason == "asks again for capital"
    lost = judge(case, Outcome("form", asked="company_type", slots={"licence_scope": "地网", "capital": 3000}))
    assert (lost.category, lost.reason) == (judging.MISS, "did not take licence_scope=全网")
    assert judge(make_case(facts=("conditions.all",)), Outcome("form", asked="licence_scope")).category == judging.MISS


def test_off_topic_replies_to_in_scope_questions_are_counted_apart():
    icp = make_case(outcomes=("honest_unknown",), cause="scope")
    assert judge(icp, Outcome("off_topic")).category == judging.OFF_TOPIC_IN_SCOPE
    assert judge(icp, Outcome("honest_unknown")).correct
    assert judge(icp, Outcome("clarify")).category == judging.MISS
    weather = make_case(outcomes=("off_topic",), cause="scope")
    assert judge(weather, Outcome("off_topic")).correct
    assert judge(weather, fact_answer("process.time_limit", "法定时限…")).category == judging.WRONG


# ------------------------------------------------------------------ the arithmetic


def test_summary_counts_accuracy_recall_off_topic_and_wrong_answers_per_cause():
    rows = [
        (make_case(facts=("annual.report",), cause="plain"), fact_answer("annual.report", "许可证年检已改为年报…")),
        (make_case(facts=("annual.report",), cause="plain"), fact_answer("penalty.unlicensed", "未取得许可证…")),
        (make_case(outcomes=("honest_unknown",), cause="scope"), Outcome("off_topic")),
        (make_case(outcomes=("off_topic",), cause="scope"), Outcome("off_topic")),
        (make_case(outcomes=("off_topic",), cause="scope"), Outcome("clarify")),
        (
            make_case(eligibility=("verdict",), partial=("conditions.capital",), cause="situational"),
            fact_answer("conditions.capital", "注册资本：…"),
        ),
    ]
    summary = summarise([CaseResult(c, o, judge(c, o)) for c, o in rows])
    assert (summary["total"], summary["correct"]) == (6, 2)
    assert summary["accuracy"] == pytest.approx(2 / 6)
    assert (summary["wrong_confident"], summary["wrong_confident_rate"]) == (1, pytest.approx(1 / 6))
    assert (summary["in_scope_as_off_topic"], summary["incomplete"]) == (1, 1)
    assert (summary["off_topic_total"], summary["off_topic_recall"]) == (2, 0.5)
    assert summary["by_cause"]["plain"]["accuracy"] == 0.5
    assert summary["by_cause"]["scope"]["in_scope_as_off_topic"] == 1
    assert summary["by_cause"]["polarity"]["total"] == 0
    assert summary["by_expected"]["off_topic"]["off_topic_recall"] == 0.5
    assert summary["outcomes"] == {"fact": 3, "off_topic": 2, "clarify": 1}
