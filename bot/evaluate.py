"""Measure what visitors get: held-out intent sets, a realistic set through the whole assistant,
cross-validation, and Rasa's stock pipeline beside ours.

Usage: ``python -m bot.evaluate`` (what ``make eval`` calls), options below. Writes
``results/eval/report.md`` and ``report.json``.

- ``data/eval/eval_set.yml`` and ``data/eval/test_set.yml``: intent-labelled, parsed in this
  process. A prediction is a *confident answer* when its intent has a fact and it passes the
  answer gate of actions/answer.py (the visitor gets that fact, not 「您是想问……」).
- ``data/eval/realistic_set.yml``: every case is a fresh conversation through the whole
  assistant (``python -m bot.run`` with ``RASA_MODEL``: Rasa, action server, facts database);
  the outcome is read from the tracker (the fact that answered, the responses sent, the form's
  question) and judged against what the visitor should see (see the file's header).
- Rasa's cross-validation on data/nlu (``--folds``, default 5).
- The same with Rasa's stock pipeline on JiebaTokenizer (data/eval/baseline_config.yml): a whole
  model trained on the same domain, rules and stories, so only the NLU differs. Its
  cross-validation uses ``--baseline-folds`` (default 3: the stock DIET trains slowly); the
  report says how many folds each pipeline used.

For every set: accuracy, off-topic recall, in-scope messages answered as off-topic, and wrong
confident answers (a fact or verdict that is not an acceptable one: the worst kind), plus
per-cause figures for the realistic set and the issue #13 done-criteria.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

from bot import settings, train
from bot.settings import PROJECT_ROOT

EVAL_SET = PROJECT_ROOT / "data" / "eval" / "eval_set.yml"
TEST_SET = PROJECT_ROOT / "data" / "eval" / "test_set.yml"
EVERY_FACT_SET = PROJECT_ROOT / "data" / "eval" / "every_fact_set.yml"
REALISTIC_SET = PROJECT_ROOT / "data" / "eval" / "realistic_set.yml"
BASELINE_CONFIG = PROJECT_ROOT / "data" / "eval" / "baseline_config.yml"
FACTS_DIR = PROJECT_ROOT / "data" / "facts"
NLU_DATA = PROJECT_ROOT / "data" / "nlu"
OUT = PROJECT_ROOT / "results" / "eval"
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"

INTENT_SETS = {"eval_set": EVAL_SET, "test_set": TEST_SET, "every_fact_set": EVERY_FACT_SET}
PIPELINES = {
    "ours": "ours (normaliser + jieba + domain dictionary + DIET)",
    "stock": "stock Rasa, JiebaTokenizer (data/eval/baseline_config.yml)",
}

# Issue #13 done-criteria. REFERENCE: intent accuracy of the existing sets before the work
# (the model of commit 908adbd, measured by this module): they must not fall below it.
REFERENCE = {"eval_set": 230 / 235, "test_set": 195 / 208}
TARGETS = {
    "realistic_accuracy": 0.90,
    "realistic_wrong_confident": 0.02,
    "off_topic_recall": 0.95,
    "cross_validation": 0.85,
    "lead_over_stock": 0.15,
}
MIN_OFF_TOPIC = 20  # off-topic recall is a criterion on sets with at least this many off-topic messages
# The stock DIET (2 transformer layers of 256) trains several times slower than ours (1 of 128): its
# cross-validation uses fewer folds by default so that `make eval` stays near 30-40 minutes on 2 cores.
STOCK_FOLDS = 3


# ------------------------------------------------------------------ intent-labelled sets


def read_examples(path: Path) -> list[tuple[str, str]]:
    """Return (text, intent) pairs from a Rasa NLU YAML file or folder."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    rows = []
    for file in files:
        for block in yaml.safe_load(file.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in block:
                rows += [
                    (line[2:].strip(), block["intent"])
                    for line in block["examples"].splitlines()
                    if line.startswith("- ")
                ]
    return rows


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


@lru_cache(maxsize=4)
def fact_questions(facts_dir: Path = FACTS_DIR) -> dict[str, str]:
    """Each answered intent with its fact's own question (data/facts/*.yml)."""
    questions = {}
    for file in sorted(facts_dir.glob("*.yml")):
        for fact in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("facts") or []:
            if fact.get("intent"):
                questions[fact["intent"]] = str(fact.get("question") or "")
    return questions


@lru_cache(maxsize=4)
def fact_intents(facts_dir: Path = FACTS_DIR) -> set[str]:
    """Return the intents a fact answers (data/facts/*.yml, field ``intent``)."""
    intents = set()
    for file in sorted(facts_dir.glob("*.yml")):
        for fact in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("facts") or []:
            if fact.get("intent"):
                intents.add(fact["intent"])
    return intents


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


# ------------------------------------------------------------------ the realistic set: cases

CAUSES = ("situational", "scope", "places", "mixed_colloquial", "polarity", "plain")
ELIGIBILITY = ("verdict", "form")
OUTCOMES = ("honest_unknown", "off_topic", "greeting", "goodbye", "thanks", "bot_identity", "consultant", "handoff")
FORM_SLOTS = ("licence_scope", "company_type", "capital", "on_blacklist", "has_premises")
SCOPES = ("全网", "地网")


class CaseError(ValueError):
    """A malformed case in the realistic set."""


@dataclass(frozen=True)
class Case:
    id: str
    cause: str
    turns: tuple[str, ...]
    facts: tuple[str, ...] = ()
    eligibility: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    scope: Optional[str] = None
    polarity: Optional[str] = None
    known: dict = field(default_factory=dict)
    partial: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.turns[-1]

    @property
    def expected_kind(self) -> str:
        """One label per case for the per-outcome figures."""
        if "off_topic" in self.outcomes:
            return "off_topic"
        if self.eligibility:
            return "eligibility"
        if "honest_unknown" in self.outcomes:
            return "honest_unknown"
        if self.outcomes:
            return "small talk / consultant"
        return "fact"

    def expected_text(self) -> str:
        parts = [f"fact {'|'.join(self.facts)}"] if self.facts else []
        parts += [f"eligibility {'|'.join(self.eligibility)}"] if self.eligibility else []
        parts += ["|".join(self.outcomes)] if self.outcomes else []
        checks = [f"scope {self.scope}"] if self.scope else []
        checks += [f"polarity {self.polarity}"] if self.polarity else []
        checks += [f"mentions {'、'.join(self.mentions)}"] if self.mentions else []
        return " or ".join(parts) + (f" ({', '.join(checks)})" if checks else "")


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _yes_no(value: Any) -> Any:
    """YAML 1.1 reads a bare yes/no as a boolean: take it back as the word."""
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def load_cases(path: Path = REALISTIC_SET, fact_keys: Optional[set[str]] = None) -> list[Case]:
    """Read and check the realistic set; raise CaseError naming the case on any mistake."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keys = fact_keys if fact_keys is not None else all_fact_keys()
    cases, seen = [], set()
    allowed = {
        "id",
        "cause",
        "text",
        "turns",
        "fact",
        "eligibility",
        "outcome",
        "mentions",
        "scope",
        "polarity",
        "known",
        "partial",
    }
    for number, raw in enumerate(data.get("cases") or [], 1):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise CaseError(f"case {number}: every case needs an id")
        name = raw["id"]
        if raw["id"] in seen:
            raise CaseError(f"{name}: duplicate id")
        seen.add(raw["id"])
        if set(raw) - allowed:
            raise CaseError(f"{name}: unknown keys {sorted(set(raw) - allowed)}")
        if raw.get("cause") not in CAUSES:
            raise CaseError(f"{name}: cause must be one of {', '.join(CAUSES)}")
        if ("text" in raw) == ("turns" in raw):
            raise CaseError(f"{name}: give either text or turns")
        turns = (raw["text"],) if "text" in raw else _as_tuple(raw["turns"])
        if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise CaseError(f"{name}: messages must be non-empty text")
        case = Case(
            id=raw["id"],
            cause=raw["cause"],
            turns=tuple(turns),
            facts=_as_tuple(raw.get("fact")),
            eligibility=_as_tuple(raw.get("eligibility")),
            outcomes=_as_tuple(raw.get("outcome")),
            mentions=_as_tuple(raw.get("mentions")),
            scope=raw.get("scope"),
            polarity=_yes_no(raw.get("polarity")),
            known=dict(raw.get("known") or {}),
            partial=_as_tuple(raw.get("partial")),
        )
        if not (case.facts or case.eligibility or case.outcomes):
            raise CaseError(f"{name}: say what the visitor should see (fact, eligibility or outcome)")
        for key in case.facts + case.partial:
            if key not in keys:
                raise CaseError(f"{name}: unknown fact key {key!r}")
        if set(case.eligibility) - set(ELIGIBILITY):
            raise CaseError(f"{name}: eligibility must be verdict and/or form")
        if set(case.outcomes) - set(OUTCOMES):
            raise CaseError(f"{name}: outcome must be among {', '.join(OUTCOMES)}")
        if case.scope is not None and case.scope not in SCOPES:
            raise CaseError(f"{name}: scope must be 全网 or 地网")
        if case.polarity is not None and case.polarity not in ("yes", "no"):
            raise CaseError(f"{name}: polarity must be yes or no")
        if set(case.known) - set(FORM_SLOTS):
            raise CaseError(f"{name}: known slots must be among {', '.join(FORM_SLOTS)}")
        if case.known and "form" not in case.eligibility:
            raise CaseError(f"{name}: known only applies to eligibility: form")
        cases.append(case)
    return cases


def all_fact_keys(facts_dir: Path = FACTS_DIR) -> set[str]:
    keys = set()
    for file in sorted(facts_dir.glob("*.yml")):
        keys |= {f["key"] for f in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("facts") or []}
    return keys


# ------------------------------------------------------------------ what the visitor saw

# responses that give an eligibility verdict (a registered-capital verdict or the pre-check's result)
VERDICT_RESPONSES = {
    "utter_capital_enough",
    "utter_capital_short",
    "utter_eligibility_ok",
    "utter_eligibility_ok_partial",
    "utter_eligibility_not_yet",
}
FORM_QUESTIONS = {f"utter_ask_{slot}": slot for slot in FORM_SLOTS} | {"utter_invalid_capital": "capital"}
LEAD_RESPONSES = {"utter_lead_start", "utter_handoff_timeout"} | {
    f"utter_ask_lead_{s}" for s in ("name", "phone", "company", "region", "licence", "note", "consent")
}
HANDOFF_RESPONSES = {"utter_handoff_queued", "utter_handoff_closed"}
SMALL_TALK = {
    "utter_greet": "greeting",
    "utter_goodbye": "goodbye",
    "utter_thank": "thanks",
    "utter_bot_challenge": "bot_identity",
}
CONSULTANT_PAYLOADS = ("/request_consultant", "/request_human")
CONSULTANT_WORDS = ("顾问", "人工")
# the first sentence ends at one of these
_SENTENCE_END = re.compile(r"[。！？!?；;：:\n]")
_THRESHOLDS = re.compile(r"不(?:少于|低于|超过|多于|高于)")
_NEGATION = re.compile(r"不|没|無|无|未|非|否|取消|禁止|勿")


@dataclass
class Outcome:
    """What the visitor got for one message, read from the tracker."""

    kind: str  # fact, verdict, form, off_topic, clarify, honest_unknown, greeting, …, other, error
    fact_key: Optional[str] = None
    answer: str = ""  # the first message of a fact answer or verdict
    texts: list = field(default_factory=list)  # every message, in order
    responses: list = field(default_factory=list)  # the response names (utter_…)
    asked: Optional[str] = None  # the slot the eligibility form asks for
    slots: dict = field(default_factory=dict)  # the tracker's slots after the turn

    def summary(self) -> str:
        first = (self.answer or (self.texts[0] if self.texts else "")).replace("\n", " ")
        label = (
            self.kind + (f" {self.fact_key}" if self.fact_key else "") + (f" (asks {self.asked})" if self.asked else "")
        )
        return f"{label}: {_short(first, 60)}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def classify(tracker: dict) -> Outcome:
    """Classify the reply to the tracker's latest user message."""
    events = tracker.get("events") or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    turn = events[last_user + 1 :]
    bots = [e for e in turn if e.get("event") == "bot"]
    names = [(e.get("metadata") or {}).get("utter_action") or "" for e in bots]
    texts = [e.get("text") or "" for e in bots]
    actions = {e.get("name") for e in turn if e.get("event") == "action"}
    fact_keys = [e.get("value") for e in turn if e.get("event") == "slot" and e.get("name") == "fact_key"]
    fact_key = next((k for k in reversed(fact_keys) if k), None)
    slots = dict(tracker.get("slots") or {})
    common: dict[str, Any] = {"texts": texts, "responses": names, "slots": slots}

    def first_of(wanted: Callable[[str], bool]) -> str:
        return next((t for n, t in zip(names, texts, strict=True) if wanted(n)), "")

    if any(n in VERDICT_RESPONSES for n in names):
        return Outcome("verdict", fact_key, first_of(lambda n: n in VERDICT_RESPONSES), **common)
    if fact_key:
        return Outcome("fact", fact_key, first_of(lambda n: n == "utter_fact") or (texts[0] if texts else ""), **common)
    asked = [FORM_QUESTIONS[n] for n in names if n in FORM_QUESTIONS]
    if asked:
        return Outcome("form", asked=asked[-1], **common)
    if "action_request_handoff" in actions or any(n in HANDOFF_RESPONSES for n in names):
        return Outcome("handoff", **common)
    if any(n in LEAD_RESPONSES for n in names):
        return Outcome("consultant", **common)
    if "utter_out_of_scope" in names:
        return Outcome("off_topic", **common)
    for name in names:
        if name in SMALL_TALK:
            return Outcome(SMALL_TALK[name], **common)
    if "utter_clarify" in names:
        return Outcome("clarify", **common)
    if "utter_facts_unavailable" in names:
        return Outcome("error", **common)
    buttons = [b for e in bots for b in ((e.get("data") or {}).get("buttons") or [])]
    offers = any(str(b.get("payload", "")).startswith(CONSULTANT_PAYLOADS) for b in buttons) or any(
        word in text for text in texts for word in CONSULTANT_WORDS
    )
    if offers:  # no answer, no guess, no refusal: it says it cannot answer and offers a person
        return Outcome("honest_unknown", **common)
    return Outcome("other", **common)


def polarity(text: str) -> str:
    """Return "no" when the first sentence denies, else "yes"."""
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    return "no" if _NEGATION.search(_THRESHOLDS.sub("", first)) else "yes"


def _mentioned(mention: str, text: str) -> bool:
    return any(option in text for option in mention.split("|"))


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(expected) == str(actual)


# categories of a judged case
CORRECT, WRONG, OFF_TOPIC_IN_SCOPE, INCOMPLETE, MISS = (
    "correct",
    "wrong_confident",
    "in_scope_as_off_topic",
    "incomplete",
    "miss",
)


@dataclass
class Judgement:
    category: str
    reason: str = ""

    @property
    def correct(self) -> bool:
        return self.category == CORRECT


def judge(case: Case, outcome: Outcome) -> Judgement:
    """Judge what the visitor saw against what the case expects."""
    if outcome.kind in ("fact", "verdict"):
        acceptable = (outcome.fact_key in case.facts) or (outcome.kind == "verdict" and "verdict" in case.eligibility)
        if not acceptable:
            if outcome.fact_key in case.partial:
                return Judgement(INCOMPLETE, f"on topic but not enough: {outcome.fact_key}")
            return Judgement(WRONG, f"answered {outcome.kind} {outcome.fact_key or ''}".strip())
        if case.polarity and polarity(outcome.answer) != case.polarity:
            return Judgement(WRONG, f"opens with {polarity(outcome.answer)}, should be {case.polarity}")
        if case.scope:
            other = next(s for s in SCOPES if s != case.scope)
            names_it, names_other = case.scope in outcome.answer, other in outcome.answer
            if names_other and not names_it:
                return Judgement(WRONG, f"answers for {other}, should be {case.scope}")
            if names_other or not names_it:
                return Judgement(INCOMPLETE, f"does not say {case.scope}")
        everything = "\n".join(outcome.texts)
        missing = [m for m in case.mentions if not _mentioned(m, everything)]
        if missing:
            return Judgement(INCOMPLETE, f"does not mention {'、'.join(missing)}")
        return Judgement(CORRECT)
    if outcome.kind == "form":
        if "form" not in case.eligibility:
            return Judgement(MISS, f"starts the pre-check (asks {outcome.asked})")
        if outcome.asked in case.known:
            return Judgement(MISS, f"asks again for {outcome.asked}")
        wrong = [slot for slot, value in case.known.items() if not _same(value, outcome.slots.get(slot))]
        if wrong:
            return Judgement(MISS, "did not take " + ", ".join(f"{s}={case.known[s]}" for s in wrong))
        return Judgement(CORRECT)
    if outcome.kind in case.outcomes:
        return Judgement(CORRECT)
    if outcome.kind == "off_topic":
        return Judgement(OFF_TOPIC_IN_SCOPE, "answered as off-topic")
    return Judgement(MISS, f"got {outcome.kind}")


@dataclass
class CaseResult:
    case: Case
    outcome: Outcome
    judgement: Judgement


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def summarise(results: list[CaseResult]) -> dict:
    """Accuracy, off-topic recall, in-scope-as-off-topic and wrong confident answers, overall and by group."""

    def block(rows: list[CaseResult]) -> dict:
        categories = Counter(r.judgement.category for r in rows)
        off = [r for r in rows if "off_topic" in r.case.outcomes]
        return {
            "total": len(rows),
            "correct": categories[CORRECT],
            "accuracy": _rate(categories[CORRECT], len(rows)),
            "wrong_confident": categories[WRONG],
            "wrong_confident_rate": _rate(categories[WRONG], len(rows)),
            "in_scope_as_off_topic": categories[OFF_TOPIC_IN_SCOPE],
            "incomplete": categories[INCOMPLETE],
            "off_topic_total": len(off),
            "off_topic_recall": _rate(sum(1 for r in off if r.outcome.kind == "off_topic"), len(off)),
        }

    return {
        **block(results),
        "by_cause": {c: block([r for r in results if r.case.cause == c]) for c in CAUSES},
        "by_expected": {
            k: block([r for r in results if r.case.expected_kind == k])
            for k in sorted({r.case.expected_kind for r in results})
        },
        "outcomes": dict(Counter(r.outcome.kind for r in results).most_common()),
    }


# ------------------------------------------------------------------ the realistic set: running it


def converse(stack: Any, case: Case, sender: str) -> Outcome:
    """Play ``case`` as a fresh conversation and classify the reply to its last message."""
    import requests

    headers = {"Authorization": f"Bearer {stack.token}"}  # trusted: the guard's visitor limits do not apply
    try:
        for message in case.turns:
            response = requests.post(
                f"{stack.rasa_url}/webhooks/rest/webhook",
                headers=headers,
                json={"sender": sender, "message": message},
                timeout=180,
            )
            response.raise_for_status()
        tracker = requests.get(
            f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=60
        )
        tracker.raise_for_status()
    except requests.RequestException as exc:
        return Outcome("error", texts=[f"{type(exc).__name__}"])
    return classify(tracker.json())


def run_realistic(model: Path, cases: list[Case], work: Path, workers: int) -> tuple[list[CaseResult], float]:
    """Start the whole assistant on ``model``, play every case, stop it; return the results and start-up seconds."""
    from bench.load import start_stack, stop, wait_ready

    work.mkdir(parents=True, exist_ok=True)
    for name in ("facts.db", "tracker.db"):  # every run starts from empty conversations
        (work / name).unlink(missing_ok=True)
    stack = start_stack(model, work, BUSINESS_HOURS="0-24", BUSINESS_DAYS="1,2,3,4,5,6,7")
    try:
        started_in = wait_ready(stack)
        run = f"{int(time.time())}"
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda c: converse(stack, c, f"eval-{run}-{c.id}"), cases))
    finally:
        stop(stack)
    return [CaseResult(c, o, judge(c, o)) for c, o in zip(cases, outcomes, strict=True)], round(started_in)


# ------------------------------------------------------------------ models and cross-validation


def _digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        for file in sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()):
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def train_baseline(out: Path, force: bool = False) -> Path:
    """Train a whole model with the stock pipeline on the project's domain and data (unless current)."""
    model, stamp = out / "baseline.tar.gz", out / "baseline.fingerprint"
    current = _digest([BASELINE_CONFIG, train.DOMAIN, *train.TRAINING_DATA])
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == current:
        print(f"stock model is up to date: {model.relative_to(PROJECT_ROOT)}")
        return model
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "--config",
            str(BASELINE_CONFIG),
            "--domain",
            str(train.DOMAIN),
            "--data",
            *map(str, train.TRAINING_DATA),
            "--out",
            str(out),
            "--fixed-model-name",
            "baseline",
            "--force",
        ],
        cwd=PROJECT_ROOT,
        check=True,
    )
    stamp.write_text(current + "\n")
    return model


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (training, the stack)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cross_validate(config: Path, out: Path, folds: int) -> dict:
    """Run Rasa's cross-validation on data/nlu with ``config``; return its intent summary."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "nlu",
            "--cross-validation",
            "--folds",
            str(folds),
            "--config",
            str(config),
            "--nlu",
            str(NLU_DATA),
            "--out",
            str(out),
            "--no-plot",
        ],
        cwd=PROJECT_ROOT,
        check=True,
    )
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    return {
        "accuracy": report.get("accuracy"),
        "weighted_f1": report["weighted avg"]["f1-score"],
        "macro_f1": report["macro avg"]["f1-score"],
        "folds": folds,
    }


# ------------------------------------------------------------------ the report


def criteria(report: dict) -> list[tuple[str, str, Optional[bool]]]:
    """Issue #13's done-criteria: (criterion, measured, met); met is None when not measured."""
    rows = []
    real = (report.get("realistic") or {}).get("ours")
    stock = (report.get("realistic") or {}).get("stock")
    if real:
        rows += [
            (
                f"realistic set accuracy ≥ {TARGETS['realistic_accuracy']:.0%}",
                f"{real['accuracy']:.1%}",
                real["accuracy"] >= TARGETS["realistic_accuracy"],
            ),
            (
                f"wrong confident answers ≤ {TARGETS['realistic_wrong_confident']:.0%} (realistic)",
                f"{real['wrong_confident_rate']:.1%} ({real['wrong_confident']})",
                real["wrong_confident_rate"] <= TARGETS["realistic_wrong_confident"],
            ),
            (
                "no in-scope message answered as off-topic (realistic)",
                str(real["in_scope_as_off_topic"]),
                real["in_scope_as_off_topic"] == 0,
            ),
        ]
    recalls = {
        name: m["out_of_scope_recall"]
        for name, m in (report.get("intent_sets") or {}).get("ours", {}).items()
        if (m["per_intent"].get(OUT_OF_SCOPE) or {}).get("support", 0) >= MIN_OFF_TOPIC
    }
    if real and real["off_topic_total"] >= MIN_OFF_TOPIC:
        recalls["realistic_set"] = real["off_topic_recall"]
    if recalls:
        rows.append(
            (
                f"off-topic recall ≥ {TARGETS['off_topic_recall']:.0%} (sets with ≥ {MIN_OFF_TOPIC} off-topic "
                "messages)",
                ", ".join(f"{k} {v:.1%}" for k, v in recalls.items()),
                min(recalls.values()) >= TARGETS["off_topic_recall"],
            )
        )
    for name, m in (report.get("intent_sets") or {}).get("ours", {}).items():
        reference = REFERENCE.get(name)
        if reference:
            rows.append(
                (
                    f"{name} accuracy no lower than before the work ({reference:.1%})",
                    f"{m['accuracy']:.1%}",
                    m["accuracy"] >= reference - 1e-9,
                )
            )
    cv = (report.get("cross_validation") or {}).get("ours")
    if cv:
        rows.append(
            (
                f"{cv['folds']}-fold cross-validation ≥ {TARGETS['cross_validation']:.0%}",
                f"{cv['accuracy']:.1%}",
                cv["accuracy"] >= TARGETS["cross_validation"] and cv["folds"] >= 5,
            )
        )
    if real and stock:
        lead = real["accuracy"] - stock["accuracy"]
        rows.append(
            (
                f"ahead of stock Rasa (JiebaTokenizer) by ≥ {TARGETS['lead_over_stock']:.0%} points (realistic)",
                f"{lead * 100:+.1f} points",
                lead >= TARGETS["lead_over_stock"],
            )
        )
    return rows


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\n", " ").replace("|", "\\|")


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1%}"


def render(report: dict) -> str:
    """The Markdown report."""
    lines = ["# Evaluation", ""]
    done = criteria(report)
    if done:
        lines += ["## Issue #13 done-criteria", "", "| criterion | measured | met |", "|---|---|---|"]
        lines += [f"| {_cell(c)} | {_cell(v)} | {'yes' if ok else 'no'} |" for c, v, ok in done]
        lines.append("")
    lines += [
        "## Every set",
        "",
        "Accuracy: intent sets by intent; the realistic set by what the visitor sees. Wrong confident: a fact "
        "answer (or verdict) that is not an acceptable one.",
        "",
        "| set | pipeline | n | accuracy | off-topic recall | in-scope as off-topic | wrong confident |",
        "|---|---|---|---|---|---|---|",
    ]
    for pipeline in PIPELINES:
        for name, m in (report.get("intent_sets") or {}).get(pipeline, {}).items():
            lines.append(
                f"| {name} | {pipeline} | {m['total']} | {_pct(m['accuracy'])} | "
                f"{_pct(m['out_of_scope_recall'])} | {m['in_scope_as_off_topic']} | {m['wrong_confident']} |"
            )
        real = (report.get("realistic") or {}).get(pipeline)
        if real:
            lines.append(
                f"| realistic_set | {pipeline} | {real['total']} | {_pct(real['accuracy'])} | "
                f"{_pct(real['off_topic_recall'])} | {real['in_scope_as_off_topic']} | "
                f"{real['wrong_confident']} ({_pct(real['wrong_confident_rate'])}) |"
            )
    lines += ["", "Pipelines: " + "; ".join(f"**{k}**: {v}" for k, v in PIPELINES.items()) + "."]
    variations = report.get("variations") or {}
    if variations:
        names = list(variations["as written"])
        lines += [
            "",
            "## What visitors add around a question (ours)",
            "",
            "Accuracy on each intent set's questions (its small talk, yes/no and off-topic messages left out) with "
            "the addition made to every one; the widest gap to the questions as written is the last row "
            "(issue #21: within one point).",
            "",
            "| added | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        lines += [f"| {v} | " + " | ".join(_pct(acc[n]) for n in names) + " |" for v, acc in variations.items()]
        gaps = [max(abs(acc[n] - variations["as written"][n]) for acc in variations.values()) for n in names]
        lines.append("| widest gap | " + " | ".join(f"{gap * 100:.1f} points" for gap in gaps) + " |")
    cv = report.get("cross_validation") or {}
    if cv:
        lines += [
            "",
            "## Cross-validation (data/nlu)",
            "",
            "| pipeline | folds | accuracy | weighted F1 | macro F1 |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p} | {m['folds']} | {_pct(m['accuracy'])} | {m['weighted_f1']:.3f} | {m['macro_f1']:.3f} |"
            for p, m in cv.items()
        ]
    realistic = report.get("realistic") or {}
    if realistic:
        pipelines = list(realistic)
        for title, group in (("cause", "by_cause"), ("expected outcome", "by_expected")):
            lines += [
                "",
                f"## Realistic set by {title}",
                "",
                f"| {title} | n | "
                + " | ".join(f"{p} accuracy | {p} wrong confident | {p} in-scope as off-topic" for p in pipelines)
                + " |",
                "|---|---|" + "---|---|---|" * len(pipelines),
            ]
            for name, first in realistic[pipelines[0]][group].items():
                cells = []
                for p in pipelines:
                    m = realistic[p][group].get(name) or {}
                    cells += [
                        _pct(m.get("accuracy")),
                        str(m.get("wrong_confident", "–")),
                        str(m.get("in_scope_as_off_topic", "–")),
                    ]
                lines.append(f"| {name} | {first['total']} | " + " | ".join(cells) + " |")
        for p in pipelines:
            lines += [
                "",
                f"What the visitor got ({p}): "
                + ", ".join(f"{k} {v}" for k, v in realistic[p]["outcomes"].items())
                + ".",
            ]
        for p in pipelines:
            misses = [c for c in report.get("realistic_cases", {}).get(p, []) if c["category"] != CORRECT]
            lines += [
                "",
                f"## Realistic misses ({p}, {len(misses)})",
                "",
                "| case | cause | message | category | expected | got | why |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [
                "| "
                + " | ".join(
                    _cell(v)
                    for v in (
                        c["id"],
                        c["cause"],
                        _short(c["text"], 40),
                        c["category"],
                        c["expected"],
                        c["got"],
                        c["reason"],
                    )
                )
                + " |"
                for c in misses
            ]
    for pipeline in PIPELINES:
        for name, m in (report.get("intent_sets") or {}).get(pipeline, {}).items():
            if pipeline == "ours" and m["misses"]:
                lines += ["", f"## Misses ({name}, ours)", ""]
                lines += [
                    f"- {x['text']} — expected {x['expected']}, got {x['predicted']}"
                    + (" (answered with its fact)" if x.get("confident") else "")
                    for x in m["misses"]
                ]
    timings = report.get("timings") or {}
    if timings:
        lines += [
            "",
            "## Timings",
            "",
            "Wall-clock and CPU seconds (CPU: this process and the children it waited "
            "for; the machine may be shared, so wall-clock can exceed CPU / cores).",
            "",
            "| step | wall s | CPU s |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {v['wall']} | {'–' if v['cpu'] is None else v['cpu']} |" for k, v in timings.items()]
    return "\n".join(lines) + "\n"


def _case_rows(results: list[CaseResult]) -> list[dict]:
    return [
        {
            "id": r.case.id,
            "cause": r.case.cause,
            "text": r.case.text,
            "expected": r.case.expected_text(),
            "category": r.judgement.category,
            "reason": r.judgement.reason,
            "got": r.outcome.summary(),
            "kind": r.outcome.kind,
            "fact_key": r.outcome.fact_key,
            "replies": r.outcome.texts,
            "responses": r.outcome.responses,
        }
        for r in results
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument(
        "--baseline-folds",
        type=int,
        default=STOCK_FOLDS,
        help=f"cross-validation folds for the stock pipeline (default {STOCK_FOLDS}: it trains slowly)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip Rasa's stock pipeline")
    parser.add_argument("--no-cross-validation", action="store_true")
    parser.add_argument("--no-realistic", action="store_true", help="skip the realistic set (no stack)")
    parser.add_argument("--retrain-baseline", action="store_true", help="train the stock model even if current")
    parser.add_argument("--workers", type=int, default=3, help="conversations played at once")
    parser.add_argument(
        "--no-variations", action="store_true", help="skip the intent sets with ？/。/谢谢/你好/emoji added"
    )
    parser.add_argument(
        "--model", type=Path, help="score this model archive (e.g. models/seeds/…) instead of training ours"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the report goes (default {OUT})")
    parser.add_argument(
        "--spread",
        type=Path,
        nargs="+",
        metavar="MODEL",
        help="only score these models (e.g. models/seeds/*.tar.gz) on the intent sets and count where they differ",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.spread:
        sets = {name: read_examples(path) for name, path in INTENT_SETS.items()}
        found = spread(args.spread, sets)
        out.mkdir(parents=True, exist_ok=True)
        (out / "spread.json").write_text(json.dumps(found, ensure_ascii=False, indent=2), encoding="utf-8")
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    begun, begun_cpu = time.monotonic(), _cpu_seconds()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, dict] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        started, cpu = time.monotonic(), _cpu_seconds()
        value = step()
        timings[name] = {"wall": round(time.monotonic() - started), "cpu": round(_cpu_seconds() - cpu)}
        return value

    cases = load_cases()  # a malformed set stops here, before any training
    if args.model:
        models = {"ours": args.model}
    else:
        timed("train ours (only when stale)", train.train)
        models = {"ours": train.MODEL_PATH}
    if not args.no_baseline:
        models["stock"] = timed(
            "train the stock model (only when stale)",
            lambda: train_baseline(OUT / "baseline-model", force=args.retrain_baseline),
        )
    report: dict[str, Any] = {"intent_sets": {}, "realistic": {}, "realistic_cases": {}, "cross_validation": {}}
    examples = {name: read_examples(path) for name, path in INTENT_SETS.items()}
    for pipeline, model in models.items():
        report["intent_sets"][pipeline] = timed(f"intent sets, {pipeline}", partial(score_intent_sets, model, examples))
        if pipeline == "ours" and not args.no_variations:
            report["variations"] = timed("intent sets, variations", partial(score_variations, model, examples))
        if not args.no_realistic:
            results, started_in = timed(
                f"realistic set, {pipeline} ({len(cases)} conversations, stack included)",
                partial(run_realistic, model, cases, out / f"stack-{pipeline}", args.workers),
            )
            timings[f"realistic set, {pipeline}: stack start-up"] = {"wall": started_in, "cpu": None}
            report["realistic"][pipeline] = summarise(results)
            report["realistic_cases"][pipeline] = _case_rows(results)
    if not args.no_cross_validation:
        report["cross_validation"]["ours"] = timed(
            f"cross-validation, ours ({args.folds} folds)",
            lambda: cross_validate(train.CONFIG, out / "cross-validation", args.folds),
        )
        if not args.no_baseline:
            folds = args.baseline_folds
            report["cross_validation"]["stock"] = timed(
                f"cross-validation, stock ({folds} folds)",
                lambda: cross_validate(BASELINE_CONFIG, out / "cross-validation-stock", folds),
            )
    timings["total"] = {"wall": round(time.monotonic() - begun), "cpu": round(_cpu_seconds() - begun_cpu)}
    report["timings"] = timings
    report["criteria"] = [{"criterion": c, "measured": v, "met": ok} for c, v, ok in criteria(report)]
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    text = render(report)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text.split("## Realistic set by")[0])
    print(f"full report: {(out / 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
