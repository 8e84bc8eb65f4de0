"""微信客服 end to end: the whole assistant (`python -m services.run`) against the fake KF API."""

from __future__ import annotations

import uuid

import pytest
import requests

from bot import db
from bot.store import handoffs, leads
from bot.store import staff as staff_store
from tests.support.waiting import eventually
from tests.support.wecom_kf import KFChat, menu_ids, text_of


@pytest.fixture
def chat(stack, fake_wecom_kf):
    account = fake_wecom_kf.add_account()
    return KFChat(f"{stack.rasa_url}/webhooks/wecom_kf/webhook", fake_wecom_kf, account)


def tracker(stack, conversation_id: str) -> dict:
    return requests.get(
        f"{stack.rasa_url}/conversations/{conversation_id}/tracker", params={"token": stack.token}, timeout=10
    ).json()


def test_a_question_gets_the_assistants_sourced_answer(chat):
    answer = text_of(chat.say("注册资本要多少"))
    assert "100万元" in answer and "依据：" in answer
    assert len(chat.received()) == 1  # one message for the whole turn


def test_a_lead_from_an_ad_keeps_its_scene(stack, chat, fake_wecom_kf):
    welcome = chat.answer_to(lambda: fake_wecom_kf.enters(chat.account, chat.user, "baidu_ad", "kw=呼叫中心许可证"))
    assert welcome["on_event"] == "welcome" and "许可证助手" in text_of(welcome)
    phone = "139" + str(uuid.uuid4().int)[:8]
    chat.say("办全网注册资本要多少")
    assert "怎么称呼" in text_of(chat.say("帮我办一个"))
    assert "手机号" in text_of(chat.say("张先生"))
    assert "公司名称" in text_of(chat.say(phone))
    assert "哪个省市" in text_of(chat.say("某某科技有限公司"))
    chat.say("广东深圳")
    consent = chat.say("没有")
    assert "同意" in text_of(consent)
    done = chat.say("同意", menu_id="/affirm") if "/affirm" in menu_ids(consent) else chat.say("同意")
    assert "已记录" in text_of(done)
    with db.session_scope(stack.database_url) as session:
        lead = session.query(leads.Lead).filter(leads.Lead.phone == phone).one()
        assert (lead.channel, lead.scene, lead.scene_param) == ("wecom_kf", "baidu_ad", "kw=呼叫中心许可证")


def test_a_servicer_takes_over_and_gives_the_visitor_back(stack, chat, fake_wecom_kf):
    fake_wecom_kf.servicer_online(chat.account, "zhaoliu")
    notice = chat.say("转人工")
    assert notice["on_event"] == "trans" and "转接" in text_of(notice)
    assert fake_wecom_kf.state_of(chat.account, chat.user) == 3
    with db.session_scope(stack.database_url) as session:
        handoff = handoffs.open_handoff(chat.user, session=session)
        assert (handoff.channel, handoff.status, handoff.agent) == ("wecom_kf", "claimed", "wecom:zhaoliu")
    fake_wecom_kf.says(chat.account, chat.user, "我想办全网，注册资本多少")
    fake_wecom_kf.servicer_says(chat.account, chat.user, "zhaoliu", "您好，我是顾问赵六，全网需要1000万元")
    chat.nudge()

    def staff_in_transcript():
        events = tracker(stack, chat.user)["events"]
        return [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("staff")]

    [said] = eventually(staff_in_transcript)
    assert said["text"] == "您好，我是顾问赵六，全网需要1000万元" and said["metadata"]["staff"] == "wecom:zhaoliu"
    users = [e["text"] for e in tracker(stack, chat.user)["events"] if e["event"] == "user"]
    assert "我想办全网，注册资本多少" in users and "您好，我是顾问赵六，全网需要1000万元" not in users
    assert len(chat.received()) == 1  # the assistant said nothing while the servicer served
    closing = chat.answer_to(lambda: fake_wecom_kf.end_session(chat.account, chat.user))
    assert closing["on_event"] == "end"
    answer = text_of(chat.say("年报什么时候报"))
    assert "年报" in answer
    with db.session_scope(stack.database_url) as session:
        assert handoffs.open_handoff(chat.user, session=session) is None
    fake_wecom_kf.servicer_list[chat.account] = []


def test_without_a_servicer_the_console_desk_answers_through_the_assistant(stack, chat, fake_wecom_kf):
    """WECOM_KF_QUEUE=console (the default): the session waits on the handoff desk; staff write from there."""
    with db.session_scope(stack.database_url) as session:
        token = staff_store.create_token(f"kf-desk-{uuid.uuid4().hex[:6]}", session=session)

    def desk(method, path, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, f"{stack.web_url}/console/api{path}", headers=headers, timeout=15, **kwargs)

    assert "转接" in text_of(chat.say("转人工"))
    assert fake_wecom_kf.state_of(chat.account, chat.user) == 1  # still the assistant's: staff can write
    queue = desk("GET", "/handoffs").json()["handoffs"]
    assert any(h["conversation_id"] == chat.user and h["channel"] == "wecom_kf" for h in queue)
    assert desk("POST", f"/handoffs/{chat.user}/claim").status_code == 200
    staff_says = chat.answer_to(
        lambda: desk("POST", f"/handoffs/{chat.user}/messages", json={"text": "您好，顾问小孙为您服务"})
    )
    assert text_of(staff_says) == "您好，顾问小孙为您服务"
    back = chat.answer_to(lambda: desk("POST", f"/handoffs/{chat.user}/end"))
    assert "人工服务已结束" in text_of(back)
    assert "年报" in text_of(chat.say("年报什么时候报"))
