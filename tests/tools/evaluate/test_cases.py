"""The realistic set itself, and how its cases are read and checked (tools/evaluate/cases.py)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from bot.plugins.nlu.normalize import Normalizer
from tools.evaluate import cases as sets
from tools.evaluate.cases import Case

NEAR_COPY = 0.8  # difflib ratio of normalised texts at or above which a message is a near-copy


# ------------------------------------------------------------------ the realistic set itself


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return sets.load_cases()


def test_realistic_set_is_valid_and_covers_every_cause_and_fact(cases):
    assert len(cases) >= 150
    assert {c.cause for c in cases} == set(sets.CAUSES)
    assert sum(1 for c in cases if "off_topic" in c.outcomes) >= 20
    assert sum(1 for c in cases if "honest_unknown" in c.outcomes) >= 10
    assert sum(1 for c in cases if c.eligibility) >= 20
    assert sum(1 for c in cases if len(c.turns) > 1) >= 5
    covered = {key for c in cases for key in c.facts}
    assert sets.all_fact_keys() - covered == set(), "every fact needs realistic questions"


def _normalise(text: str, normaliser: Normalizer) -> str:
    """What the model sees, without punctuation, spaces or emoji: the basis of the overlap check."""
    folded = normaliser.normalize(text).lower().replace("emoji", "")
    return re.sub(r"[\W_]+", "", folded)


def _near_copies(texts: list[str], references: list[str], threshold: float) -> list[tuple[str, str, float]]:
    found, matcher = [], difflib.SequenceMatcher(autojunk=False)
    for reference in references:
        matcher.set_seq2(reference)  # difflib caches what it learns about the second sequence
        for text in texts:
            shorter, longer = sorted((len(text), len(reference)))
            if 2 * shorter / (shorter + longer or 1) < threshold:  # the ratio cannot reach it
                continue
            matcher.set_seq1(text)
            if matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold:
                found.append((text, reference, round(matcher.ratio(), 2)))
    return found


def test_realistic_set_is_never_trained_on_nor_copied_from_the_held_out_sets(cases):
    normaliser = Normalizer()
    references = set()
    for source in (sets.NLU_DATA, sets.EVAL_SET, sets.TEST_SET):
        references |= {_normalise(text, normaliser) for text, _ in sets.read_examples(source)}
    messages = {_normalise(turn, normaliser) for case in cases for turn in case.turns}
    assert messages & references == set(), "a realistic message equals a training or held-out example"
    assert _near_copies(sorted(messages), sorted(references), NEAR_COPY) == []


def test_the_overlap_check_catches_a_copy_with_other_punctuation_script_or_typo():
    normaliser = Normalizer()
    trained = _normalise("年报没报怎么办", normaliser)
    assert _normalise("年報沒報，怎麼辦？？", normaliser) == trained
    assert _normalise("年保没报怎么办😭", normaliser) == trained  # 年保 is a known typo of 年报
    assert _near_copies([_normalise("年报没报该怎么办", normaliser)], [trained], NEAR_COPY)
    assert not _near_copies([_normalise("今年的报告忘了交，要紧吗", normaliser)], [trained], NEAR_COPY)


def _write_cases(tmp_path: Path, *cases: dict) -> Path:
    path = tmp_path / "cases.yml"
    path.write_text(yaml.safe_dump({"version": 1, "cases": list(cases)}, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"id": "a", "cause": "plain", "text": "年报怎么报"}, "say what the visitor should see"),
        ({"id": "a", "cause": "weather", "text": "年报怎么报", "fact": "annual.report"}, "cause must be"),
        ({"id": "a", "cause": "plain", "text": "年报怎么报", "fact": "annual.nope"}, "unknown fact key"),
        ({"id": "a", "cause": "plain", "text": "x", "turns": ["y"], "fact": "annual.report"}, "either text or turns"),
        ({"id": "a", "cause": "plain", "text": "x", "outcome": "maybe"}, "outcome must be"),
        ({"id": "a", "cause": "plain", "text": "x", "fact": "annual.report", "scope": "全国"}, "scope must be"),
        ({"id": "a", "cause": "plain", "text": "x", "fact": "annual.report", "known": {"capital": 1}}, "known only"),
        ({"id": "a", "cause": "plain", "text": "x", "fact": "annual.report", "expect": "y"}, "unknown keys"),
    ],
)
def test_a_malformed_case_is_refused_with_its_id(tmp_path, broken, message):
    with pytest.raises(sets.CaseError, match=f"^a: .*{message}"):
        sets.load_cases(_write_cases(tmp_path, broken))


def test_duplicate_ids_are_refused_and_bare_yes_no_read_as_words(tmp_path):
    one = {"id": "a", "cause": "polarity", "text": "能办吗", "fact": "foreign.investment", "polarity": True}
    [case] = sets.load_cases(_write_cases(tmp_path, one))
    assert case.polarity == "yes"  # YAML 1.1 reads `polarity: yes` as True
    with pytest.raises(sets.CaseError, match="duplicate id"):
        sets.load_cases(_write_cases(tmp_path, one, one))
