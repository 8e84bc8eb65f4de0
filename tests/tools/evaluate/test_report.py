"""The done-criteria and the Markdown report (tools/evaluate/report.py)."""

from __future__ import annotations

from tests.support.evaluation import fact_answer, make_case
from tools.evaluate import intents
from tools.evaluate import judge as judging
from tools.evaluate.judge import CaseResult, Outcome, judge, summarise
from tools.evaluate.report import criteria, render


def _met(report: dict, words: str) -> bool:
    [met] = [ok for criterion, _, ok in criteria(report) if words in criterion]
    return met


def test_done_criteria_and_report_follow_the_measured_figures():
    right = (make_case(facts=("annual.report",)), fact_answer("annual.report", "许可证年检已改为年报…"))
    wrong = (make_case(facts=("annual.report",)), fact_answer("penalty.unlicensed", "未取得许可证…"))
    off = (make_case(outcomes=("off_topic",), cause="scope"), Outcome("off_topic"))
    ours = summarise([CaseResult(c, o, judge(c, o)) for c, o in [right] * 46 + [wrong] * 2 + [off] * 2])
    stock = summarise([CaseResult(c, o, judge(c, o)) for c, o in [right] * 30 + [wrong] * 18 + [off] * 2])
    intent_rows = (
        [("年报怎么报", "ask_annual_report", "ask_annual_report", True)] * 20
        + [("天气", "out_of_scope", "out_of_scope", False)] * 18
        + [("天气", "out_of_scope", "greet", False)] * 2
    )
    miss = {
        "id": "c",
        "cause": "places",
        "text": "苏州办地网找谁",
        "category": judging.INCOMPLETE,
        "reason": "…",
        "expected": "fact licence.types|process.steps",
        "got": "fact licence.types: 地网…",
    }
    report = {
        "realistic": {"ours": ours, "stock": stock},
        "realistic_cases": {"ours": [miss], "stock": []},
        "intent_sets": {"ours": {"eval_set": intents.metrics(intent_rows).as_dict()}},
        "cross_validation": {"ours": {"accuracy": 0.86, "folds": 5, "weighted_f1": 0.86, "macro_f1": 0.85}},
    }
    assert ours["accuracy"] == 0.96 and ours["wrong_confident_rate"] == 0.04
    assert _met(report, "realistic set accuracy") is True
    assert _met(report, "wrong confident") is False  # 4 % > 2 %
    assert _met(report, "no in-scope message") is True
    assert _met(report, "off-topic recall") is False  # eval_set: 18 of 20; the realistic set has too few to count
    assert _met(report, "5-fold cross-validation") is True
    assert _met(report, "ahead of stock") is True  # 96 % vs 64 %
    assert _met(report, "eval_set accuracy no lower") is False  # 95.0 % < 95.2 % before issue #21
    within = {"as written": {"eval_set": 0.95}, "？ at the end": {"eval_set": 0.945}}
    assert _met({**report, "variations": within}, "within one point") is True
    beyond = {**within, "，谢谢 at the end": {"eval_set": 0.93}}
    assert _met({**report, "variations": beyond}, "within one point") is False
    text = render(report)
    assert "| realistic_set | ours | 50 | 96.0% | 100.0% | 0 | 2 (4.0%) |" in text
    assert "| realistic_set | stock | 50 | 64.0% |" in text
    assert "+32.0 points" in text
    assert "| c | places | 苏州办地网找谁 | incomplete | fact licence.types\\|process.steps |" in text
    assert "| eval_set | ours | 40 | 95.0% | 90.0% | 0 | 0 |" in text
    assert "eval_set 90.0%" in text and "realistic_set" not in text.split("## Every set")[0]
