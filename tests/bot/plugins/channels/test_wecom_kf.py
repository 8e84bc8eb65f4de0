"""The 微信客服 channel's worker against a stateful fake of the KF API: pulling, de-duplication, WeChat's
sending rules, attribution and the human takeover."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import db
from bot.plugins.channels.wecom_kf_send import KFOutput
from bot.store import handoffs, leads
from bot.store import wecom_kf as store
from tests.support.fake_wecom_kf import FakeWeComKF, visitor
from tests.support.wecom_kf import ScriptedAssistant, Transcript, WorkerChat, kf_settings, settle, worker


@pytest.fixture(scope="module")
def fake():
    with FakeWeComKF() as running:
        yield running


@pytest.fixture
def account(fake):
    return fake.add_account()


@pytest.fixture
def assistant(empty_database):
    return ScriptedAssistant(empty_database)


@pytest.fixture
def transcript():
    return Transcript()


@pytest.fixture
def make(empty_database, fake, assistant, transcript):
    made = []

    def build(**extra):
        each = worker(kf_settings(empty_database, fake, **extra), assistant, transcript)
        made.append(each)
        return each

    yield build
    for each in made:
        each.close()


def started(make, account, **extra):
    """A worker that knows ``account`` (its backlog skipped), as after the channel's first start."""
    each = make(**extra)
    store.account(each.url, account, time.time() - 60)
    return each


@pytest.fixture
def kf(make, account):
    return started(make, account)


@pytest.fixture
def chat(fake, account):
    return WorkerChat(fake, account)


async def test_a_question_is_answered_once_however_often_the_callback_comes(kf, fake, account, assistant):
    user = visitor()
    fake.says(account, user, "注册资本要多少")
    token = fake.sync_token()
    for _ in range(3):  # WeCom retrying the callback, and a late duplicate
        kf.nudged(account, token)
    await settle(kf, check=lambda: fake.texts_to(user))
    kf.nudged(account, token)
    await settle(kf)
    assert fake.texts_to(user) == ["答：注册资本要多少"]
    assert assistant.heard == [(user, "注册资本要多少")]


async def test_first_start_skips_the_backlog_without_replies(make, chat, fake, account, assistant):
    old = visitor()
    fake.says(account, old, "三小时前的问题", ago=3 * 3600)
    fake.says(account, old, "一小时前的问题", ago=3600)
    kf = make()
    await kf.start()  # lists the accounts: this one is new to the database
    await settle(kf)
    assert fake.to(old) == [] and old not in [sender for sender, _ in assistant.heard]
    await chat.ask(kf, old, "现在的问题")
    assert fake.texts_to(old) == ["答：现在的问题"]


async def test_the_cursor_survives_a_restart(make, chat, fake, account, assistant):
    first = started(make, account)
    user = visitor()
    await chat.ask(first, user, "第一个问题")
    first.close()
    second = make()  # another process, the same database
    await chat.ask(second, user, "第二个问题")
    assert fake.texts_to(user) == ["答：第一个问题", "答：第二个问题"]
    assert fake.sync_calls[-1]["cursor"]  # pulled from where the first left off
    assert [text for _, text in assistant.heard] == ["第一个问题", "第二个问题"]


async def test_restart_mid_batch_with_repeated_callbacks_answers_each_message_once(
    make, fake, account, assistant, monkeypatch
):
    monkeypatch.setattr(store, "LEASE", 0.5)  # a dead process's messages are taken again after this
    first = started(make, account)
    users = [visitor() for _ in range(3)]
    sent = {}
    for number in range(4):
        for user in users:
            sent.setdefault(user, []).append(f"问题{number}")
            fake.says(account, user, f"问题{number}")
    stuck = asyncio.Event()

    async def stall(message):
        if message.text == "问题2" and message.sender_id == users[0] and not stuck.is_set():
            stuck.set()
            await asyncio.Event().wait()  # the process dies here, mid-batch

    assistant.before_answer = stall
    token = fake.sync_token()
    first.nudged(account, token)
    await asyncio.wait_for(stuck.wait(), 20)
    first.nudged(account, token)  # a repeated callback while the batch is under way
    first.close()
    assistant.before_answer = None
    second = make()
    second.nudged(account, token)
    second.nudged(account, fake.sync_token())

    def everyone_answered():
        return all(len(fake.texts_to(u)) == 4 for u in users)

    await settle(second, check=everyone_answered)
    for user in users:
        assert fake.texts_to(user) == [f"答：{q}" for q in sent[user]]
    # every message reached the assistant; only those in hand when the first process died (at most one per
    # visitor: a visitor's messages go in order) were asked again, and none of them was answered twice
    assert set(assistant.heard) == {(u, q) for u in users for q in sent[u]}
    assert assistant.heard.count((users[0], "问题2")) == 2
    assert len(assistant.heard) <= 12 + len(users)


async def test_two_instances_answer_each_message_once(make, fake, account, assistant):
    one, two = started(make, account), make()
    users = [visitor() for _ in range(4)]
    for user in users:
        fake.says(account, user, "需要哪些材料")
        fake.says(account, user, "多久能办下来")
    token = fake.sync_token()
    for _ in range(3):
        one.nudged(account, token)
        two.nudged(account, token)
    await settle(one, two, check=lambda: all(len(fake.texts_to(u)) == 2 for u in users))
    await settle(one, two)
    for user in users:
        assert fake.texts_to(user) == ["答：需要哪些材料", "答：多久能办下来"]
    assert sorted(assistant.heard) == sorted((u, q) for u in users for q in ("需要哪些材料", "多久能办下来"))


async def test_empty_pages_that_say_has_more_are_followed(kf, chat, fake, account):
    user = visitor()
    fake.empty_pages[account] = 3
    await chat.ask(kf, user, "年报怎么报")
    assert fake.texts_to(user) == ["答：年报怎么报"]


async def test_a_stale_callback_token_still_gets_the_messages(kf, chat, fake, account):
    user = visitor()
    await chat.ask(kf, user, "过期的令牌", token=fake.sync_token(life=-1))  # 95007 from sync_msg
    assert fake.texts_to(user) == ["答：过期的令牌"]
    assert any(call.get("token") is None for call in fake.sync_calls if call["open_kfid"] == account)


@pytest.mark.parametrize("refusal", [40014, 42001, "expired"])
async def test_a_refused_access_token_is_renewed_once(kf, chat, fake, refusal):
    user = visitor()
    await chat.ask(kf, user, "令牌")
    issued = fake.tokens_issued
    if refusal == "expired":
        fake.expire_access_tokens()
    else:
        fake.refuse_next_token_with = refusal
    await chat.ask(kf, user, "令牌过期以后")
    assert fake.texts_to(user)[-1] == "答：令牌过期以后"
    assert fake.tokens_issued == issued + 1


async def test_several_bubbles_become_one_message(kf, chat, fake):
    user = visitor()
    await chat.ask(kf, user, "分三段")
    assert fake.texts_to(user) == ["第一段。\n\n第二段。\n\n第三段。"]


async def test_a_long_answer_is_cut_into_messages_of_2048_bytes(kf, chat, fake):
    user = visitor()
    await chat.ask(kf, user, "很长")
    parts = fake.texts_to(user)
    assert len(parts) == 3 and all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts) == "许可证。" * 400
    assert not fake.refused


async def test_options_are_a_menu_whose_clicks_come_back_as_the_intent(kf, chat, fake, account, assistant):
    user = visitor()
    await chat.ask(kf, user, "模糊")
    menu = fake.to(user)[0]
    assert menu["msgtype"] == "msgmenu" and menu["msgmenu"]["head_content"] == "您是想问："
    click = menu["msgmenu"]["list"][0]["click"]
    assert click == {"id": "/ask_capital", "content": "注册资本要多少"}
    fake.says(account, user, "注册资本要多少", menu_id=click["id"])
    # a forged menu id is text, not a command
    await chat.ask(kf, user, "重来", menu_id="/restart", check=lambda: len(fake.to(user)) == 3)
    assert assistant.heard[-2:] == [(user, "/ask_capital"), (user, "重来")]


async def test_pictures_get_a_polite_answer(kf, chat, fake, assistant):
    user = visitor()
    await chat.ask(kf, user, "", msgtype="image")
    assert "文字" in fake.texts_to(user)[0] and assistant.heard == []


async def test_the_welcome_goes_out_on_enter_session_and_the_scene_is_kept(kf, chat, fake, account, empty_database):
    user, late = visitor(), visitor()
    fake.enters(account, user, scene="baidu_ad", scene_param="kw=呼叫中心许可证")
    fake.enters(account, late, scene="site", ago=25)  # its welcome code expired 5 s ago
    await chat.nudge(kf, check=lambda: fake.to(user))
    welcome = fake.to(user)[0]
    assert welcome["on_event"] == "welcome" and welcome["msgtype"] == "msgmenu"
    assert "许可证助手" in welcome["msgmenu"]["head_content"]
    assert fake.to(late) == []
    assert store.visitor(empty_database, user)["scene"] == "baidu_ad"
    assert store.visitor(empty_database, user)["scene_param"] == "kw=呼叫中心许可证"
    with db.session_scope(empty_database) as session:
        lead, _ = leads.save_lead(
            {"conversation_id": user, "channel": "wecom_kf", "name": "王", "phone": "13812345678", "consent": True},
            session=session,
        )
        assert (lead.scene, lead.scene_param) == ("baidu_ad", "kw=呼叫中心许可证")
    rows, scenes = store.visitors(empty_database, scene="baidu_ad")
    assert [r["conversation_id"] for r in rows] == [user] and "site" in scenes


async def test_five_messages_in_48_hours_one_kept_for_the_handoff_notice(kf, chat, fake, empty_database):
    user = visitor()
    await chat.ask(kf, user, "问一次")
    for number in range(5):  # staff write from the console: the last one has no room left
        await kf.sender.send_outside_turn(user, [{"text": f"顾问消息{number}"}])
    assert fake.texts_to(user) == ["答：问一次", "顾问消息0", "顾问消息1", "顾问消息2", "顾问消息3"]
    assert not fake.refused  # never past WeChat's limit
    held = store.problems(empty_database, user)
    assert held[0]["kind"] == "held" and "顾问消息4" in held[0]["text"]


async def test_staff_messages_reach_the_visitor_through_the_output_channel(kf, chat, fake):
    """What Rasa sends outside a turn (staff on the handoff desk): KFOutput hands it to the sender."""
    user = visitor()
    await chat.ask(kf, user, "你好")
    output = KFOutput(kf.sender)
    await output.send_text_message(user, "顾问：您好，我是张三")
    await output.send_text_with_buttons(user, "请选择：", [{"title": "办理流程", "payload": "/ask_process"}])
    assert fake.texts_to(user)[1:] == ["顾问：您好，我是张三", "请选择："]
    assert fake.to(user)[-1]["msgmenu"]["list"][0]["click"] == {"id": "/ask_process", "content": "办理流程"}


async def test_an_answer_past_the_budget_is_kept_for_staff(kf, chat, fake, account, empty_database):
    user = visitor()
    fake.says(account, user, "问题")
    fake.states[(account, user)]["sent_since"] = 5  # WeChat counted messages this database never saw
    await chat.nudge(kf, check=lambda: store.problems(empty_database, user))
    problem = store.problems(empty_database, user)[0]
    assert (problem["kind"], problem["code"]) == ("refused", 95001) and problem["text"] == "答：问题"
    await kf.sender.send_outside_turn(user, [{"text": "还能发吗"}])
    assert [r["errcode"] for r in fake.refused if r["body"].get("touser") == user] == [95001]  # not tried again


async def test_nothing_is_sent_48_hours_after_the_visitors_last_message(kf, chat, fake, empty_database):
    user = visitor()
    await chat.ask(kf, user, "两天前")
    with db.session_scope(empty_database) as session:
        session.get(store.KFVisitor, user).last_customer_at = time.time() - 49 * 3600
    await kf.sender.send_outside_turn(user, [{"text": "顾问回复"}])
    assert fake.texts_to(user) == ["答：两天前"]
    assert "48小时" in store.problems(empty_database, user)[0]["detail"]


async def test_95002_from_wechat_is_shown_to_staff(kf, chat, fake, account, empty_database):
    user = visitor()
    await chat.ask(kf, user, "问题")
    fake.states[(account, user)]["last_customer_at"] = time.time() - 49 * 3600
    await kf.sender.send_outside_turn(user, [{"text": "晚了"}])
    assert store.problems(empty_database, user)[0]["code"] == 95002


async def test_a_failed_delivery_reported_later_is_shown_to_staff(kf, chat, fake, empty_database):
    user = visitor()
    fake.fail_next = 10  # the visitor refuses messages
    await chat.ask(kf, user, "问题")
    # WeCom's callback for the msg_send_fail event
    await chat.nudge(kf, check=lambda: store.problems(empty_database, user))
    problem = store.problems(empty_database, user)[0]
    assert (problem["kind"], problem["code"]) == ("failed", 10) and "拒收" in problem["detail"]


async def test_while_a_servicer_serves_the_assistant_is_silent(kf, chat, fake, account, assistant, transcript):
    user = visitor()
    await chat.ask(kf, user, "你好")
    fake.take_over(account, user, "zhangsan")
    fake.says(account, user, "我想办全网")
    fake.servicer_says(account, user, "zhangsan", "您好，我是顾问张三")
    await chat.nudge(kf, check=lambda: any(e.get("event") == "bot" for e in transcript.of(user)))
    assert fake.texts_to(user) == ["答：你好"]  # nothing more from the assistant
    assert (user, "您好，我是顾问张三") not in assistant.heard  # the servicer is not the visitor
    events = transcript.of(user)
    assert {"event": "pause"} in events
    staff = [e for e in events if e.get("event") == "bot"]
    assert staff == [{"event": "bot", "text": "您好，我是顾问张三", "metadata": {"staff": "wecom:zhangsan"}}]
    with db.session_scope(kf.url) as session:
        handoff = handoffs.open_handoff(user, session=session)
        assert (handoff.status, handoff.agent, handoff.channel) == ("claimed", "wecom:zhangsan", "wecom_kf")
    fake.end_session(account, user)
    await chat.nudge(kf, check=lambda: len(fake.to(user)) == 2)
    assert fake.to(user)[-1]["on_event"] == "end"
    assert {"event": "resume"} in transcript.of(user)
    await chat.ask(kf, user, "还有一个问题")
    assert fake.texts_to(user)[-1] == "答：还有一个问题"
    with db.session_scope(kf.url) as session:
        assert handoffs.open_handoff(user, session=session) is None


async def test_95018_when_a_servicer_pulls_the_session_mid_turn(kf, chat, fake, account, assistant, empty_database):
    user = visitor()

    def servicer_pulls(message):
        fake.states[(account, user)].update(state=3, servicer="lisi")

    assistant.before_answer = servicer_pulls
    await chat.ask(kf, user, "问题", check=lambda: store.problems(empty_database, user))
    assert store.problems(empty_database, user)[0]["code"] == 95018
    assert store.visitor(empty_database, user)["state"] == 3


async def test_handoff_goes_to_a_receiving_servicer(kf, chat, fake, account, empty_database):
    user = visitor()
    fake.servicer_online(account, "wangwu")
    await chat.ask(kf, user, "转人工")
    assert fake.state_of(account, user) == 3 and fake.states[(account, user)]["servicer"] == "wangwu"
    notice = fake.to(user)[0]
    assert notice["on_event"] == "trans" and "转接" in notice["text"]["content"]  # the trans code: no budget
    with db.session_scope(empty_database) as session:
        assert handoffs.open_handoff(user, session=session).agent == "wecom:wangwu"
    fake.servicer_list[account] = []


@pytest.mark.parametrize("queue", ["console", "wecom"])
async def test_handoff_without_a_servicer_waits_in_the_chosen_queue(make, chat, fake, account, empty_database, queue):
    kf = started(make, account, WECOM_KF_QUEUE=queue)
    user = visitor()
    await chat.ask(kf, user, "转人工")
    assert fake.state_of(account, user) == (1 if queue == "console" else 2)
    assert "转接" in fake.texts_to(user)[0]
    with db.session_scope(empty_database) as session:
        handoff = handoffs.open_handoff(user, session=session)
        # WeCom's queue holds it: the desk shows that, and the desk's expiry leaves it alone
        expected = ("queued", None) if queue == "console" else ("claimed", "wecom:queue")
        assert (handoff.status, handoff.agent) == expected


async def test_an_unreachable_api_leaves_the_message_for_later(kf, chat, fake):
    user = visitor()
    fake.unavailable = 2
    await chat.ask(kf, user, "网络不好")  # pulled again after the retry delay
    assert fake.texts_to(user) == ["答：网络不好"]


async def test_the_guard_limits_each_kf_visitor_on_its_own(empty_database, chat, fake, account, transcript):
    from bot.plugins.channels.guard import TOO_FAST, Guard

    config = kf_settings(empty_database, fake, RATE_LIMIT_PER_SENDER="2")
    assistant = ScriptedAssistant(empty_database)
    kf = worker(config, Guard(config).wrap(assistant, screen_payloads=False), transcript)
    store.account(kf.url, account, time.time() - 60)
    hasty, calm = visitor(), visitor()
    for number in range(3):
        fake.says(account, hasty, f"第{number}条")
    fake.says(account, calm, "我只问一次")
    try:
        await chat.nudge(kf, check=lambda: len(fake.texts_to(hasty)) == 3 and fake.texts_to(calm))
    finally:
        kf.close()
    assert fake.texts_to(hasty) == ["答：第0条", "答：第1条", TOO_FAST]
    assert fake.texts_to(calm) == ["答：我只问一次"]
