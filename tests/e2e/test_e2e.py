"""End to end: the real Rasa and action servers answer through the REST channel."""

from __future__ import annotations

import uuid

import pytest
import requests

from bot import db
from bot.store import facts


def visitor() -> str:
    return f"e2e-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("全网和地网有什么区别", ["工业和信息化部", "通信管理局", "依据：中华人民共和国电信条例第9条"]),
        ("办呼叫中心许可证注册资本要多少", ["100万元", "1000万元", "认缴"]),
        ("呼叫中心许可证还要年检吗", ["年报", "3月31日", "已过时"]),
        ("没证做坐席外包会被怎么罚", ["10万元以上100万元以下", "第7条、第69条"]),
        ("95号码怎么申请", ["6省15个城市", "码号"]),
        ("外资公司可以办吗", ["100%", "国务院令第752号"]),
        ("呼叫中心许可证能做电销吗", ["不得提供商业营销类", "30日"]),
    ],
)
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
    with db.session_scope(stack.database_url) as session:
        fact = facts.fact_for_intent("ask_validity", session=session)
        original = fact.answer
        fact.answer = "增值电信业务经营许可证有效期为5年，到期前90日申请延续。"
    try:
        assert "到期前90日申请延续" in stack.text(sender, "许可证几年有效")
    finally:
        with db.session_scope(stack.database_url) as session:
            facts.fact_for_intent("ask_validity", session=session).answer = original


def test_http_api_requires_the_token(stack):
    assert requests.get(f"{stack.rasa_url}/status", timeout=10).status_code == 401
    assert requests.get(f"{stack.rasa_url}/status", params={"token": "wrong"}, timeout=10).status_code == 401
    assert requests.get(f"{stack.rasa_url}/status", params={"token": stack.token}, timeout=10).status_code == 200


def test_conversation_is_stored_in_the_tracker_store(stack):
    sender = visitor()
    stack.text(sender, "办理流程是什么")
    response = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=10
    )
    tracker = response.json()
    user_events = [e for e in tracker["events"] if e["event"] == "user"]
    assert user_events[0]["text"] == "办理流程是什么"
    assert user_events[0]["input_channel"] == "rest"
    assert tracker["slots"]["fact_key"] == "process.steps"


def test_traditional_full_width_and_typos_are_understood(stack):
    assert "工业和信息化部" in stack.text(visitor(), "全網和地網有什麼區別？？")
    assert "100万元" in stack.text(visitor(), "注冊資本要多少")
    assert "年报" in stack.text(visitor(), "呼叫中心许可正要年俭吗")


def test_province_names_the_provincial_bureau(stack):
    text = stack.text(visitor(), "我在广东办地网找谁")
    assert "广东省通信管理局" in text


def test_capital_below_the_national_threshold_is_told_no_and_why(stack):
    text = stack.text(visitor(), "注册资本500万能办全网吗")
    assert text.startswith("不能") and "1000万元" in text and "500万元" in text
    assert "地网" in text


def test_follow_up_uses_the_previous_topic(stack):
    sender = visitor()
    assert "1000万元" in stack.text(sender, "办全网注册资本要多少")
    follow_up = stack.text(sender, "那省内的呢")
    assert "100万元" in follow_up and "1000万元" not in follow_up


def test_materials_follow_up_after_a_national_answer(stack):
    sender = visitor()
    stack.text(sender, "全网许可证谁审批")
    assert "营业执照" in stack.text(sender, "材料呢")


def test_original_text_is_kept_and_normalised_text_is_recorded(stack):
    sender = visitor()
    stack.text(sender, "註冊資本五百萬元能辦全網嗎")
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=10
    ).json()
    user = [e for e in tracker["events"] if e["event"] == "user"][0]
    assert user["text"] == "註冊資本五百萬元能辦全網嗎"
    assert user["parse_data"]["normalized_text"] == "注册资本500万能办全网吗"
    assert {(e["entity"], e["value"]) for e in user["parse_data"]["entities"]} == {
        ("capital", 500),
        ("licence_scope", "全网"),
    }


@pytest.mark.parametrize(
    "message", ["今天天气怎么样", "给我讲个笑话", "😀", "asdkjhqwe", "我想开一家奶茶店，要办哪些证"]
)
def test_off_topic_gets_the_scope_answer_not_a_licence_fact(stack, message):
    text = stack.text(visitor(), message)
    assert "依据：" not in text
    assert "不在我的服务范围" in text or "没太理解" in text or "您是想问" in text


def test_unsure_answer_offers_questions_that_lead_to_answers_then_a_consultant(stack):
    sender = visitor()
    # an intent payload with a low confidence stands for a message the model is unsure about
    messages = stack.say(sender, "/ask_capital@0.3", trusted=True)
    assert messages[0]["text"] == "您是想问……"
    [button] = messages[0]["buttons"]
    assert button == {"title": "办呼叫中心许可证注册资本要多少？", "payload": "/ask_capital"}
    assert "1000万元" in stack.text(visitor(), button["payload"])
    again = "\n".join(m.get("text", "") for m in stack.say(sender, "/ask_capital@0.3", trusted=True))
    assert "顾问" in again and "没能理解" in again


@pytest.mark.parametrize("message", ["ICP许可证怎么办", "办营业执照要带什么", "EDI证你们也能办吗😂"])
def test_other_licences_and_business_registration_get_an_honest_reply_and_a_consultant(stack, message):
    """Issue #13: a telecom licensing agency's prospective client is never told the question is off-topic."""
    messages = stack.say(visitor(), message)
    text = "\n".join(m.get("text", "") for m in messages)
    assert "不在我的服务范围" not in text and "依据：" not in text
    assert "顾问" in text
    assert {"title": "联系顾问", "payload": "/request_consultant"} in [
        b for m in messages for b in m.get("buttons", [])
    ]


def test_a_city_names_its_provincial_bureau(stack):
    assert "江苏省通信管理局" in stack.text(visitor(), "我们在苏州，只做本地的客户，地网找哪个部门审批")


def test_a_situation_told_in_one_message_gets_the_verdict_for_the_scope_the_places_imply(stack):
    text = stack.text(visitor(), "我们是杭州的民营公司，注册资本三百万，客户在浙江和上海，能办吗")
    assert text.startswith("不能") and "全网" in text and "1000万元" in text and "300万元" in text


def test_emoji_and_filler_do_not_turn_a_licence_question_off_topic(stack):
    text = stack.text(visitor(), "在吗在吗 年报到底什么时候交啊啊啊😭")
    assert "不在我的服务范围" not in text and "3月31日" in text
