"""Intent accuracy on held-out sets, through the running Rasa server."""

from __future__ import annotations

import json
from collections import Counter

import yaml

from bot import evaluate
from bot.settings import PROJECT_ROOT

TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "test_set.yml"
TRAINING = PROJECT_ROOT / "data" / "nlu"


def test_held_out_sets_share_nothing_with_training_and_cover_every_intent():
    training = {text for text, _ in evaluate.read_examples(TRAINING)}
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    for path in (TEST_SET, evaluate.EVAL_SET):
        rows = evaluate.read_examples(path)
        assert not [text for text, _ in rows if text in training], path
        counts = Counter(intent for _, intent in rows)
        assert set(counts) == {i for i in domain["intents"] if not i.startswith("EXTERNAL_")}, path
        assert min(counts.values()) >= 5, path
    eval_rows = evaluate.read_examples(evaluate.EVAL_SET)
    assert len(eval_rows) >= 200
    assert sum(1 for _, intent in eval_rows if intent == "out_of_scope") >= 30


def _measure(stack, path, name):
    rows = [
        (text, expected, evaluate.effective_intent(stack.parse(text)))
        for text, expected in evaluate.read_examples(path)
    ]
    result = evaluate.metrics(rows)
    report = PROJECT_ROOT / "results" / f"{name}.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(result.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    print(
        f"{name}: accuracy {result.accuracy:.1%}, out-of-scope recall {result.out_of_scope_recall:.1%} "
        f"on {result.total} messages"
    )
    return result


def test_test_set_accuracy_gate(stack):
    result = _measure(stack, TEST_SET, "nlu-test-set")
    assert result.accuracy >= 0.90, result.misses


def test_evaluation_set_gates(stack):
    result = _measure(stack, evaluate.EVAL_SET, "nlu-eval-set")
    assert result.accuracy >= 0.95, result.misses
    assert result.out_of_scope_recall >= 0.90, [m for m in result.misses if m["expected"] == "out_of_scope"]
