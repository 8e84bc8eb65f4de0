"""Conversation exports (bot/store/conversations.py)."""

from __future__ import annotations


def test_a_conversation_exports_as_a_story_yaml():
    import yaml

    from bot.store.conversations import story_yaml

    story = yaml.safe_load(
        story_yaml(
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


def test_bubbles_know_the_message_they_answer_and_their_fact():
    from web.console.conversations import chat

    user = {"kind": "user", "text": "有效期多久", "intent": "ask_validity", "ranking": ["ask_validity", "ask_renewal"]}
    items = [
        user,
        {"kind": "bot", "text": "5年", "fact_key": "licence.validity", "fact_version": 3},
        {"kind": "bot", "text": "更正", "fact_key": "licence.validity", "fact_version": 3},
        {"kind": "fact", "fact_key": "licence.validity"},
        {"kind": "action", "name": "action_answer_fact"},
        {"kind": "user", "text": "年报", "intent": "ask_annual_report"},
        {"kind": "bot", "text": "旧对话的回答"},
        {"kind": "fact", "fact_key": "annual.report"},
        {"kind": "pause"},
        {"kind": "staff", "text": "您好", "staff": "小陈"},
    ]
    bubbles = chat(items)
    assert [b["side"] for b in bubbles] == ["visitor", "bot", "bot", "visitor", "bot", "system", "staff"]
    assert bubbles[1]["reply_to"] is user and bubbles[2]["reply_to"] is None
    assert (bubbles[1]["show_fact"], bubbles[2]["show_fact"]) == (True, False)  # one chip per answer
    # before answers named their version, the slot still names the fact
    assert (bubbles[4]["fact_key"], bubbles[4]["fact_version"], bubbles[4]["show_fact"]) == (
        "annual.report",
        None,
        True,
    )
    assert bubbles[6]["reply_to"] is None and not bubbles[6].get("show_fact")
