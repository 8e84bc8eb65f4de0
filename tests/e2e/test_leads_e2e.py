"""The lead form through the REST channel of the running stack, and the leads API."""

from __future__ import annotations

import uuid

import requests

from bot import db
from bot.store import leads, staff


def visitor() -> str:
    return f"lead-{uuid.uuid4().hex}"


def stored(stack, phone):
    with db.session_scope(stack.database_url) as session:
        rows = session.query(leads.Lead).filter(leads.Lead.phone == phone).all()
        return [row.as_dict(mask=False) for row in rows]


def unique_phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def test_happy_path_saves_the_lead_and_the_api_lists_it(stack):
    sender, phone = visitor(), unique_phone()
    stack.text(sender, "办全网注册资本要多少")
    assert "怎么称呼" in stack.text(sender, "帮我办一个")
    assert "手机号" in stack.text(sender, "张先生")
    assert "公司名称" in stack.text(sender, phone)
    assert "哪个省市" in stack.text(sender, "某某科技有限公司")
    # 全网 came up earlier in the conversation: not asked again
    assert "补充" in stack.text(sender, "广东深圳")
    assert "同意" in stack.text(sender, "没有")
    done = stack.text(sender, "/affirm")
    assert "已记录" in done and "联系您" in done
    [lead] = stored(stack, phone)
    assert (lead["name"], lead["company"], lead["region"], lead["licence"]) == (
        "张先生",
        "某某科技有限公司",
        "广东深圳",
        "全网",
    )
    assert lead["channel"] == "rest" and lead["conversation_id"] == sender and "capital" in lead["topics"]
    with db.session_scope(stack.database_url) as session:
        token = staff.create_token("e2e", session=session)
    listed = requests.get(
        f"{stack.web_url}/console/api/leads", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["leads"]
    assert any(
        lead["conversation_id"] == sender and lead["phone"] == phone[:3] + "****" + phone[-4:] for lead in listed
    )
    assert requests.get(f"{stack.web_url}/console/api/leads", timeout=10).status_code == 401


def test_a_company_named_after_its_city_is_not_asked_for_its_province(stack):
    sender, phone = visitor(), unique_phone()
    stack.text(sender, "办全网注册资本要多少")
    stack.text(sender, "帮我办一个")
    stack.text(sender, "张先生")
    stack.text(sender, phone)
    assert "补充" in stack.text(sender, "深圳某某科技有限公司")
    stack.text(sender, "没有")
    stack.text(sender, "/affirm")
    [lead] = stored(stack, phone)
    assert (lead["company"], lead["region"]) == ("深圳某某科技有限公司", "广东省")


def test_invalid_phone_is_re_asked_with_a_hint(stack):
    sender = visitor()
    stack.text(sender, "怎么联系你们")
    stack.text(sender, "李女士")
    hint = stack.text(sender, "12345")
    assert "格式不对" in hint and "手机号" in hint
    assert "公司名称" in stack.text(sender, unique_phone())


def test_cancel_keeps_nothing(stack):
    sender = visitor()
    stack.text(sender, "我想委托你们代办")
    stack.text(sender, "王总")
    assert "已取消" in stack.text(sender, "算了")
    with db.session_scope(stack.database_url) as session:
        assert session.query(leads.Lead).filter(leads.Lead.conversation_id == sender).count() == 0


def test_licence_question_mid_form_then_back_and_a_correction(stack):
    sender, phone, corrected = visitor(), unique_phone(), unique_phone()
    stack.text(sender, "帮我办一个")
    stack.text(sender, "赵经理")
    stack.text(sender, phone)
    answer = stack.text(sender, "年报什么时候截止")
    assert "3月31日" in answer and "公司名称" in answer
    stack.text(sender, f"电话写错了，是{corrected}")
    stack.text(sender, "某某呼叫中心公司")
    stack.text(sender, "浙江杭州")
    stack.text(sender, "不确定")
    stack.text(sender, "下周三下午方便")
    stack.text(sender, "/affirm")
    assert stored(stack, phone) == []
    [lead] = stored(stack, corrected)
    assert lead["licence"] == "不确定" and lead["visitor_note"] == "下周三下午方便"


def test_known_details_are_not_asked_again(stack):
    sender, phone = visitor(), unique_phone()
    stack.text(sender, "我在广东办地网找谁")
    stack.text(sender, "帮我办一个")
    stack.text(sender, "陈先生")
    stack.text(sender, phone)
    after_company = stack.text(sender, "某某科技")
    assert "哪个省市" not in after_company and "全网、地网" not in after_company and "补充" in after_company
    stack.text(sender, "没有")
    stack.text(sender, "/affirm")
    [lead] = stored(stack, phone)
    assert (lead["region"], lead["licence"]) == ("广东省", "地网")
