"""A guess with nothing behind it falls back, whatever the model's confidence (bot/plugins/nlu/unsupported.py)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.plugins.nlu.normalize import has_word
from bot.plugins.nlu.retrieval import RETRIEVAL
from bot.plugins.nlu.unsupported import UnsupportedFallback

pytestmark = pytest.mark.unit


def classified(text: str, guess: str = "goodbye", retrieval=None) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": guess, "confidence": 0.9})
    message.set(INTENT_RANKING_KEY, [{"name": guess, "confidence": 0.9}, {"name": "affirm", "confidence": 0.1}])
    if retrieval is not None:
        message.set(RETRIEVAL, [{"name": name, "similarity": s} for name, s in retrieval])
    UnsupportedFallback(UnsupportedFallback.get_default_config()).process([message])
    return message


@pytest.mark.parametrize("text", ["2", "？？", "……", "123456", " 3 ", "1.5"])
def test_digits_and_punctuation_alone_fall_back(text):
    message = classified(text)
    assert message.get(INTENT)["name"] == "nlu_fallback"
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == ["nlu_fallback", "goodbye", "affirm"]


@pytest.mark.parametrize("text", ["好", "ok", "👍", "500万", "/ask_fees", "B24"])
def test_a_word_or_an_emoji_keeps_the_models_guess(text):
    assert classified(text, "affirm").get(INTENT)["name"] == "affirm"


def test_small_talk_like_none_of_its_examples_falls_back_and_questions_are_left_to_the_decision():
    gibberish = classified("zxcvbnm", "affirm", [("out_of_scope", 0.18), ("ask_fees", 0.15)])
    assert gibberish.get(INTENT)["name"] == "nlu_fallback"
    assert classified("天气好热啊", "affirm", [("out_of_scope", 0.34), ("affirm", 0.11)]).get(INTENT)["name"] == (
        "nlu_fallback"
    )
    assert classified("有专业顾问吗", "request_consultant", [("request_consultant", 0.19)]).get(INTENT)["name"] == (
        "request_consultant"
    )
    # a question's guess is weighed by actions/decide.py, which also reads the second opinion
    assert classified("年报什么时候交", "ask_fees", [("ask_annual_report", 0.9)]).get(INTENT)["name"] == "ask_fees"


def test_a_word_is_a_letter_of_any_script_or_a_symbol():
    assert has_word("證") and has_word("a") and has_word("😊")
    assert not has_word("2。") and not has_word("") and not has_word("?!")


def test_a_long_wordless_message_costs_time_linear_in_its_length():
    assert not has_word("1" * 100_000)  # one pass, no backtracking
