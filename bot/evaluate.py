"""Measure NLU quality: held-out evaluation set, cross-validation and a baseline.

Usage: ``python -m bot.evaluate`` (what ``make eval`` calls). Writes
``results/eval/report.md`` and ``report.json``: per-intent precision/recall,
confusion pairs, out-of-scope recall, and accuracy of this pipeline against
Rasa's stock pipeline (WhitespaceTokenizer default config) trained on the same
data.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from bot import train
from bot.settings import PROJECT_ROOT

EVAL_SET = PROJECT_ROOT / "tests" / "nlu" / "eval_set.yml"
BASELINE_CONFIG = PROJECT_ROOT / "tests" / "nlu" / "baseline_config.yml"
OUT = PROJECT_ROOT / "results" / "eval"
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"


def read_examples(path: Path) -> list[tuple[str, str]]:
    """Return (text, intent) pairs from a Rasa NLU YAML file or folder."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    rows = []
    for file in files:
        for block in yaml.safe_load(file.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                rows += [(line[2:].strip(), block["intent"])
                         for line in block["examples"].splitlines() if line.startswith("- ")]
    return rows


def effective_intent(parse: dict) -> str:
    """The intent whose reply the visitor sees.

    A fallback whose best guess is out of scope is answered with the
    out-of-scope reply (see actions/clarify.py), so it counts as out of scope.
    """
    intent = (parse.get("intent") or {}).get("name")
    if intent == FALLBACK:
        ranking = [r["name"] for r in parse.get("intent_ranking") or [] if r["name"] != FALLBACK]
        if ranking and ranking[0] == OUT_OF_SCOPE:
            return OUT_OF_SCOPE
    return intent


@dataclass
class Metrics:
    total: int
    accuracy: float
    out_of_scope_recall: float
    per_intent: dict
    confusions: list
    misses: list

    def as_dict(self) -> dict:
        return self.__dict__


def metrics(rows: Iterable[tuple[str, str, str]]) -> Metrics:
    """Compute metrics from (text, expected, predicted) rows."""
    rows = list(rows)
    correct = sum(1 for _, e, p in rows if e == p)
    intents = sorted({e for _, e, _ in rows} | {p for _, _, p in rows})
    per_intent = {}
    for intent in intents:
        tp = sum(1 for _, e, p in rows if e == intent and p == intent)
        support = sum(1 for _, e, _ in rows if e == intent)
        predicted = sum(1 for _, _, p in rows if p == intent)
        per_intent[intent] = {
            "precision": tp / predicted if predicted else 0.0,
            "recall": tp / support if support else 0.0,
            "support": support,
        }
    oos = [(e, p) for _, e, p in rows if e == OUT_OF_SCOPE]
    confusions = Counter((e, p) for _, e, p in rows if e != p).most_common()
    return Metrics(
        total=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        out_of_scope_recall=sum(1 for e, p in oos if p == OUT_OF_SCOPE) / len(oos) if oos else 0.0,
        per_intent=per_intent,
        confusions=[{"expected": e, "predicted": p, "count": n} for (e, p), n in confusions],
        misses=[{"text": t, "expected": e, "predicted": p} for t, e, p in rows if e != p],
    )


def predict(model: Path, examples: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Parse every example with ``model`` in this process."""
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines
    agent = Agent.load(str(model))

    async def run():
        return [(text, expected, effective_intent(await agent.parse_message(text)))
                for text, expected in examples]

    return asyncio.run(run())


def train_baseline(out: Path) -> tuple[Path, float]:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "rasa", "train", "nlu", "--config", str(BASELINE_CONFIG),
                    "--nlu", str(PROJECT_ROOT / "data" / "nlu"), "--out", str(out),
                    "--fixed-model-name", "baseline"], cwd=PROJECT_ROOT, check=True)
    return out / "baseline.tar.gz", time.monotonic() - started


def cross_validate(out: Path, folds: int) -> dict:
    """Run Rasa's own cross-validation on the training data and return its intent summary."""
    subprocess.run([sys.executable, "-m", "rasa", "test", "nlu", "--cross-validation", "--folds", str(folds),
                    "--config", str(train.CONFIG), "--nlu", str(PROJECT_ROOT / "data" / "nlu"),
                    "--out", str(out), "--no-plot"], cwd=PROJECT_ROOT, check=True)
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    return {"accuracy": report.get("accuracy"), "weighted_f1": report["weighted avg"]["f1-score"],
            "macro_f1": report["macro avg"]["f1-score"], "folds": folds}


def render(ours: Metrics, baseline: Metrics | None, cv: dict | None, figures: dict) -> str:
    lines = ["# NLU evaluation", "",
             f"Held-out set: `tests/nlu/eval_set.yml`, {ours.total} messages "
             "(colloquial, traditional, typos, long, English mixed, off-topic).", "",
             "| pipeline | accuracy | out-of-scope recall |", "|---|---|---|",
             f"| ours (normaliser + jieba + DIET) | {ours.accuracy:.1%} | {ours.out_of_scope_recall:.1%} |"]
    if baseline:
        lines.append(f"| stock Rasa (WhitespaceTokenizer, default config) | {baseline.accuracy:.1%} "
                     f"| {baseline.out_of_scope_recall:.1%} |")
    if cv:
        lines += ["", f"Cross-validation ({cv['folds']} folds, training data): accuracy {cv['accuracy']:.1%}, "
                      f"weighted F1 {cv['weighted_f1']:.3f}, macro F1 {cv['macro_f1']:.3f}."]
    if figures:
        lines += ["", "| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in figures.items()]
    lines += ["", "## Per intent (ours)", "", "| intent | precision | recall | support |", "|---|---|---|---|"]
    for intent, m in ours.per_intent.items():
        lines.append(f"| {intent} | {m['precision']:.2f} | {m['recall']:.2f} | {m['support']} |")
    lines += ["", "## Confusion pairs (ours)", "", "| expected | predicted | count |", "|---|---|---|"]
    lines += [f"| {c['expected']} | {c['predicted']} | {c['count']} |" for c in ours.confusions] or ["| – | – | 0 |"]
    lines += ["", "## Misses (ours)", ""] + [f"- {m['text']} — expected {m['expected']}, got {m['predicted']}"
                                             for m in ours.misses]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-cross-validation", action="store_true")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    train.train()
    examples = read_examples(EVAL_SET)
    ours = metrics(predict(train.MODEL_PATH, examples))
    figures, baseline, cv = {}, None, None
    if not args.no_baseline:
        model, seconds = train_baseline(OUT / "baseline-model")
        figures["baseline training time"] = f"{seconds:.0f} s"
        baseline = metrics(predict(model, examples))
    if not args.no_cross_validation:
        cv = cross_validate(OUT / "cross-validation", args.folds)
    (OUT / "report.json").write_text(json.dumps({
        "ours": ours.as_dict(), "baseline": baseline.as_dict() if baseline else None, "cross_validation": cv,
        "figures": figures}, ensure_ascii=False, indent=2), encoding="utf-8")
    (OUT / "report.md").write_text(render(ours, baseline, cv, figures), encoding="utf-8")
    print(render(ours, baseline, cv, figures).split("## Per intent")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
