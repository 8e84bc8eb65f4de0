"""Intent accuracy on the held-out test set, through the running Rasa server."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "test_set.yml"
TRAINING = PROJECT_ROOT / "data" / "nlu"
GATE = 0.90


def examples(path: Path) -> list[tuple[str, str]]:
    rows = []
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    for file in files:
        for block in yaml.safe_load(file.read_text(encoding="utf-8"))["nlu"]:
            if "intent" in block:
                rows += [(line[2:].strip(), block["intent"])
                         for line in block["examples"].splitlines() if line.startswith("- ")]
    return rows


def test_test_set_is_held_out_and_covers_every_intent():
    test = examples(TEST_SET)
    training = {text for text, _ in examples(TRAINING)}
    assert not [text for text, _ in test if text in training]
    counts = Counter(intent for _, intent in test)
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    assert set(counts) == set(domain["intents"])
    assert min(counts.values()) >= 5


def test_intent_accuracy_meets_the_gate(stack, tmp_path_factory):
    test = examples(TEST_SET)
    misses = []
    for text, expected in test:
        predicted = stack.parse(text)["intent"]["name"]
        if predicted != expected:
            misses.append({"text": text, "expected": expected, "predicted": predicted})
    accuracy = 1 - len(misses) / len(test)
    report = PROJECT_ROOT / "results" / "nlu-test-set.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps({"accuracy": accuracy, "total": len(test), "misses": misses},
                                 ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"intent accuracy {accuracy:.1%} on {len(test)} held-out messages")
    assert accuracy >= GATE, f"accuracy {accuracy:.1%} < {GATE:.0%}; misses: {misses}"
