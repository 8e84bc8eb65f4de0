"""The evaluation sets (data/eval/) and the realistic set's cases, read and checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml

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
