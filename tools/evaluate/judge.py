"""What the visitor saw for one case, read from the tracker, and whether it was what the case expects."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tools.evaluate.cases import CAUSES, FORM_SLOTS, SCOPES, Case

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
