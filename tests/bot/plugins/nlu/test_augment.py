"""The visitor's story put around training questions (bot/plugins/nlu/augment.py)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.plugins.nlu.augment import (
    AUGMENTED,
    DEFAULT_CONTEXTS,
    ContextAugmenter,
    is_latin,
    load_contexts,
    with_context,
)
from tests.support.nlu import entity_extractor

pytestmark = pytest.mark.unit

# what a context must not say: any of these changes the answer (verdict, scope, foreign rules, exemptions)
ANSWER_CHANGING = {"capital", "licence_scope", "company_type", "business_kind", "number_type", "operation"}


def training(*rows: tuple[str, str]) -> TrainingData:
    return TrainingData(training_examples=[Message(data={TEXT: text, INTENT: intent}) for text, intent in rows])


def test_no_context_says_anything_that_changes_the_answer():
    extract = entity_extractor()
    before, after = load_contexts(DEFAULT_CONTEXTS)
    for context in before + after:
        named = {e["entity"] for e in extract(context)} & ANSWER_CHANGING
        assert not named, f"{context!r} names {named}"


def test_a_share_of_the_questions_get_a_copy_with_a_story_and_the_copy_keeps_the_question():
    before, after = ["公司在成都"], ["在线等"]
    questions = [f"第{n}个问题要什么材料" for n in range(400)]
    copies = [with_context(q, before, after, 0.5) for q in questions]
    made = [(q, c) for q, c in zip(questions, copies, strict=True) if c]
    assert 150 < len(made) < 250
    assert all(q in c and c != q for q, c in made)
    assert {c.startswith("公司在成都") for _, c in made} == {True, False}  # before, after, or both
    assert with_context(questions[0], before, after, 0.5) == copies[0]  # the same copy at every training


def test_the_copies_are_marked_and_small_talk_english_and_form_answers_get_none():
    augmenter = ContextAugmenter({**ContextAugmenter.get_default_config(), "share": 1.0})
    data = training(
        ("全网证要多少注册资本", "ask_capital"),
        ("好的", "affirm"),
        ("只做省内", "inform"),
        ("how long does approval take", "ask_time_limit"),
    )
    out = augmenter.process_training_data(data)
    added = [m for m in out.intent_examples if m.get(AUGMENTED)]
    assert [m.get(INTENT) for m in added] == ["ask_capital"]
    assert "全网证要多少注册资本" in added[0].get(TEXT)
    assert len(out.intent_examples) == 5


def test_english_is_told_from_chinese_with_a_latin_word_in_it():
    assert is_latin("how long does approval take")
    assert not is_latin("B24证要多少钱")
    assert not is_latin("400号码要办证吗")


def test_a_contexts_file_without_both_lists_is_refused(tmp_path):
    path = tmp_path / "contexts.yml"
    path.write_text("before: [公司在成都]\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_contexts(path)
