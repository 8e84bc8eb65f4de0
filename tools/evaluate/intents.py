"""The intent-labelled sets scored in this process: what the decision makes of each parse."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from bot import settings
from tools.evaluate.cases import FALLBACK, OUT_OF_SCOPE, fact_intents, fact_questions


def decision_for(parse: dict, config: Optional[settings.Settings] = None) -> Any:
    """What a visitor who opens a conversation with this message gets: actions/decide.py's decision."""
    from actions import decide

    config = config or settings.load()
    thresholds = replace(
        decide.DEFAULT_THRESHOLDS,
        answer_min_confidence=config.answer_min_confidence,
        answer_min_margin=config.answer_min_margin,
    )
    questions = fact_questions()
    return decide.decide(decide.Turn.from_parse(parse), set(questions), decide.own_questions(questions), thresholds)


def effective_intent(parse: dict, config: Optional[settings.Settings] = None) -> str:
    """The intent whose reply the visitor sees (the decision's label; a rule's intent is its own)."""
    from actions import decide

    intent: str = (parse.get("intent") or {}).get("name") or ""
    if intent not in decided_intents():
        return intent
    return decision_for(parse, config).label(decide.Turn.from_parse(parse))


def decided_intents() -> set[str]:
    """The intents whose reply actions/decide.py decides (the rest have a rule of their own)."""
    from actions import decide

    return fact_intents() | set(decide.FOLLOWUPS) | {OUT_OF_SCOPE, FALLBACK}


def answers_confidently(parse: dict, answered: set[str], config: settings.Settings) -> bool:
    """Whether the visitor gets a fact or a verdict for this parse without being asked what was meant."""
    intent = (parse.get("intent") or {}).get("name") or ""
    return intent in decided_intents() and decision_for(parse, config).confident


@dataclass
class Metrics:
    total: int
    accuracy: float
    out_of_scope_recall: float
    per_intent: dict
    confusions: list
    misses: list
    in_scope_as_off_topic: int = 0
    wrong_confident: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def metrics(rows: Iterable[tuple]) -> Metrics:
    """Compute metrics from (text, expected, predicted[, confident]) rows.

    ``confident`` says the visitor got the predicted intent's fact; a confident
    prediction that is wrong counts as a wrong confident answer.
    """
    rows = [(r[0], r[1], r[2], bool(r[3]) if len(r) > 3 else False) for r in rows]
    correct = sum(1 for _, e, p, _ in rows if e == p)
    intents = sorted({e for _, e, _, _ in rows} | {p for _, _, p, _ in rows if p})
    per_intent = {}
    for intent in intents:
        tp = sum(1 for _, e, p, _ in rows if e == intent and p == intent)
        support = sum(1 for _, e, _, _ in rows if e == intent)
        predicted = sum(1 for _, _, p, _ in rows if p == intent)
        per_intent[intent] = {
            "precision": tp / predicted if predicted else 0.0,
            "recall": tp / support if support else 0.0,
            "support": support,
        }
    oos = [(e, p) for _, e, p, _ in rows if e == OUT_OF_SCOPE]
    confusions = Counter((e, p) for _, e, p, _ in rows if e != p).most_common()
    return Metrics(
        total=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        out_of_scope_recall=sum(1 for e, p in oos if p == OUT_OF_SCOPE) / len(oos) if oos else 0.0,
        per_intent=per_intent,
        confusions=[{"expected": e, "predicted": p, "count": n} for (e, p), n in confusions],
        misses=[{"text": t, "expected": e, "predicted": p, "confident": c} for t, e, p, c in rows if e != p],
        in_scope_as_off_topic=sum(1 for _, e, p, _ in rows if e != OUT_OF_SCOPE and p == OUT_OF_SCOPE),
        wrong_confident=sum(1 for _, e, p, c in rows if c and e != p),
    )


def score_intent_sets(model: Path, sets: dict[str, list[tuple[str, str]]]) -> dict[str, dict]:
    """Intent metrics of ``model`` on each labelled set."""
    return {name: metrics(predict(model, rows)).as_dict() for name, rows in sets.items()}


@lru_cache(maxsize=2)
def _agent(model: str) -> Any:
    """The model loaded once per process (the variations parse every set seven more times)."""
    from rasa.core.agent import Agent

    return Agent.load(model)


def predict(model: Path, examples: list[tuple[str, str]]) -> list[tuple[str, str, str, bool]]:
    """Parse every example with ``model`` in this process; say which would be answered with a fact."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines
    agent = _agent(str(model))
    answered, config = fact_intents(), settings.load()

    async def run() -> list[tuple[str, str, str, bool]]:
        rows = []
        for text, expected in examples:
            parse = await agent.parse_message(text)
            rows.append((text, expected, effective_intent(parse), answers_confidently(parse, answered, config)))
        return rows

    return asyncio.run(run())


# what visitors add around a question (issue #21): every set must score the same under each, within a point
VARIATIONS: dict[str, Callable[[str], str]] = {
    "？ at the end": lambda m: m + "？",
    "? at the end": lambda m: m + "?",
    "？？？ at the end": lambda m: m + "？？？",
    "。 at the end": lambda m: m + "。",
    "，谢谢 at the end": lambda m: m + "，谢谢",
    "你好， in front": lambda m: "你好，" + m,
    "😊 at the end": lambda m: m + "😊",
}


def questions(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The messages that ask one of our questions (a fact's, or one answered honestly): what the variations
    are about. 「是滴」, 「再见」 or a joke are changed by a 「，谢谢」 or 「你好，」 by nature."""
    from actions.decide import FOLLOWUPS, HONEST_REPLIES

    asked = fact_intents() | set(HONEST_REPLIES) | (set(FOLLOWUPS) - {"inform"})
    return [(text, intent) for text, intent in rows if intent in asked]


def score_variations(model: Path, sets: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, float]]:
    """Accuracy of ``model`` on each set's questions with each of ``VARIATIONS`` applied to every one."""
    sets = {name: questions(rows) for name, rows in sets.items()}
    found: dict[str, dict[str, float]] = {"as written": {}}
    for name, rows in sets.items():
        found["as written"][name] = round(metrics(predict(model, rows)).accuracy, 4)
    for variation, add in VARIATIONS.items():
        found[variation] = {
            name: round(metrics(predict(model, [(add(text), intent) for text, intent in rows])).accuracy, 4)
            for name, rows in sets.items()
        }
    return found


def spread(models: list[Path], sets: dict[str, list[tuple[str, str]]]) -> dict[str, dict]:
    """Score each of ``models`` (trainings with different seeds) on each set, and count the messages whose
    reply differs between any two of them: how far one machine's model may stray from another's."""
    predictions = {str(model): {name: predict(model, rows) for name, rows in sets.items()} for model in models}
    report: dict[str, dict] = {}
    for name in sets:
        per_model = {model: metrics(rows[name]) for model, rows in predictions.items()}
        labels = [[p for _, _, p, _ in rows[name]] for rows in predictions.values()]
        differ = sum(1 for seen in zip(*labels, strict=True) if len(set(seen)) > 1)
        report[name] = {
            "n": len(sets[name]),
            "accuracy": {model: round(m.accuracy, 4) for model, m in per_model.items()},
            "wrong_confident": {model: m.wrong_confident for model, m in per_model.items()},
            "in_scope_as_off_topic": {model: m.in_scope_as_off_topic for model, m in per_model.items()},
            "out_of_scope_recall": {model: round(m.out_of_scope_recall, 4) for model, m in per_model.items()},
            "lowest_accuracy": round(min(m.accuracy for m in per_model.values()), 4),
            "differing_replies": differ,
        }
    return report
