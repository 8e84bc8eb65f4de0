"""Conversation exports (bot/store/conversations.py)."""

from __future__ import annotations


def test_a_conversation_exports_as_a_test_story():
    import yaml

    from bot.store.conversations import test_story

    story = yaml.safe_load(
        test_story(
            "c9",
            [
                {"kind": "user", "text": "你好", "intent": "greet"},
                {"kind": "action", "name": "utter_greet"},
                {"kind": "user", "text": "注册资本要多少", "intent": "ask_capital"},
                {"kind": "action", "name": "action_answer_fact"},
            ],
        )
    )
    assert story["stories"][0]["steps"] == [
        {"user": "你好\n", "intent": "greet"},
        {"action": "utter_greet"},
        {"user": "注册资本要多少\n", "intent": "ask_capital"},
        {"action": "action_answer_fact"},
    ]
