"""End to end: the real Rasa and action servers answer through the REST channel."""
from __future__ import annotations

import uuid

import pytest
import requests

from bot import facts


def visitor() -> str:
    return f"e2e-{uuid.uuid4().hex}"


@pytest.mark.parametrize("question, expected", [
    ("全网和地网有什么区别", ["工业和信息化部", "通信管理局", "依据：中华人民共和国电信条例第9条"]),
    ("办呼叫中心许可证注册资本要多少", ["100万元", "1000万元", "认缴"]),
    ("呼叫中心许可证还要年检吗", ["年报", "3月31日", "已过时"]),
    ("没证做坐席外包会被怎么罚", ["10万元以上100万元以下", "第7条、第69条"]),
    ("95号码怎么申请", ["6省15个城市", "码号"]),
    ("外资公司可以办吗", ["100%", "国务院令第752号"]),
    ("呼叫中心许可证能做电销吗", ["不得提供商业营销类", "30日"]),
])
def test_licence_questions_get_sourced_answers(stack, question, expected):
    text = stack.text(visitor(), question)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in answer to {question!r}: {text}"
    assert "依据：" in text


def test_unconfirmed_matter_is_answered_honestly_with_a_consultant_button(stack):
    messages = stack.say(visitor(), "地网可以升级成全网吗")
    assert "无法" in messages[0]["text"] or "没有确切" in messages[0]["text"]
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert {"title": "联系顾问", "payload": "/request_consultant"} in buttons


def test_small_talk_and_off_topic(stack):
    sender = visitor()
    assert "呼叫中心许可证助手" in stack.text(sender, "你好")
    assert "机器人" in stack.text(sender, "你是真人吗")
    off_topic = stack.text(sender, "今天天气怎么样")
    assert "不在我的服务范围" in off_topic and "依据：" not in off_topic
    assert "不客气" in stack.text(sender, "谢谢")


def test_edited_fact_changes_the_next_answer_without_retraining(stack):
    sender = visitor()
    assert "有效期为5年" in stack.text(sender, "呼叫中心许可证有效期多久")
    with facts.session_scope(stack.database_url) as session:
        fact = facts.fact_for_intent("ask_validity", session=session)
        original = fact.answer
        fact.answer = "增值电信业务经营许可证有效期为5年，到期前90日申请延续。"
    try:
        assert "到期前90日申请延续" in stack.text(sender, "许可证几年有效")
    finally:
        with facts.session_scope(stack.database_url) as session:
            facts.fact_for_intent("ask_validity", session=session).answer = original


def test_http_api_requires_the_token(stack):
    assert requests.get(f"{stack.rasa_url}/status", timeout=10).status_code == 401
    assert requests.get(f"{stack.rasa_url}/status", params={"token": "wrong"}, timeout=10).status_code == 401
    assert requests.get(f"{stack.rasa_url}/status", params={"token": stack.token}, timeout=10).status_code == 200


def test_conversation_is_stored_in_the_tracker_store(stack):
    sender = visitor()
    stack.text(sender, "办理流程是什么")
    response = requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker",
                            params={"token": stack.token}, timeout=10)
    tracker = response.json()
    user_events = [e for e in tracker["events"] if e["event"] == "user"]
    assert user_events[0]["text"] == "办理流程是什么"
    assert user_events[0]["input_channel"] == "rest"
    assert tracker["slots"]["fact_key"] == "process.steps"
