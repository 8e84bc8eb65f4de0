"""The intent-labelled sets scored in process: metrics, the answer gate, the variations (tools/evaluate/intents.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import settings
from tools.evaluate import cases as sets
from tools.evaluate import intents, report


def test_intent_metrics_count_wrong_answers_only_when_the_fact_was_given():
    rows = [
        ("年报怎么报", "ask_annual_report", "ask_annual_report", True),
        ("不做了证咋处理", "ask_cancellation", "ask_annual_report", True),
        ("ICP证怎么办", "out_of_scope", "out_of_scope", False),
        ("营业执照经营范围要加什么", "ask_conditions", "out_of_scope", False),
        ("那个证", "ask_definition", "nlu_fallback", False),
    ]
    result = intents.metrics(rows)
    assert (result.accuracy, result.out_of_scope_recall) == (pytest.approx(0.4), 1.0)
    assert (result.wrong_confident, result.in_scope_as_off_topic) == (1, 1)
    assert intents.metrics([r[:3] for r in rows]).wrong_confident == 0  # old three-column rows still work


def _parse(*ranking: tuple[str, float]) -> dict:
    return {
        "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
    }


def test_a_prediction_is_a_confident_answer_only_past_the_answer_gate():
    config = settings.load({"APP_ENV": "test"})
    answered = sets.fact_intents()
    assert {"ask_annual_report", "ask_capital", "ask_cancellation"} <= answered
    assert "greet" not in answered and "out_of_scope" not in answered
    assert intents.answers_confidently(_parse(("ask_cancellation", 0.9), ("ask_annual_report", 0.05)), answered, config)
    assert not intents.answers_confidently(
        _parse(("ask_cancellation", 0.3), ("ask_annual_report", 0.1)), answered, config
    )
    assert not intents.answers_confidently(
        _parse(("ask_cancellation", 0.5), ("ask_annual_report", 0.45)), answered, config
    )
    assert not intents.answers_confidently(_parse(("greet", 0.99)), answered, config)
    assert not intents.answers_confidently(_parse(("nlu_fallback", 0.3), ("ask_cancellation", 0.29)), answered, config)


def test_the_variations_report_scores_every_set_under_every_addition(monkeypatch):
    """Issue #21: a set must score the same with ？/。/谢谢/你好/emoji added; a model misled by 「？」 shows."""

    def misled_by_question_marks(model, rows):
        return [(t, e, "out_of_scope" if t.endswith(("？", "?")) else e, False) for t, e in rows]

    monkeypatch.setattr(intents, "predict", misled_by_question_marks)
    found = intents.score_variations(Path("m"), {"s": [("全网要多少钱", "ask_fees"), ("年报呢", "ask_annual_report")]})
    assert found["as written"] == {"s": 1.0}
    assert found["？ at the end"] == {"s": 0.0} and found["，谢谢 at the end"] == {"s": 1.0}
    assert set(found) == {"as written", *intents.VARIATIONS}
    text = report.render({"variations": found})
    assert "| ？ at the end | 0.0% |" in text and "100.0 points" in text
