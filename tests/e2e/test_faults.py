"""Parts of the running stack fail; visitors still get an answer or an apology, and nothing is lost.

These tests kill, pause and break the services of a stack: this module's own (``stack``, ``webhook_sink`` and
``fake_wechat`` below are the ``own_*`` fixtures), whose processes are found under its launcher's PID.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
import requests

from bot import db
from bot.store import leads
from tests.support.stack import service_pid
from tests.support.waiting import eventually
from tests.support.wechat import follower, signed, text_xml


@pytest.fixture(scope="module")
def stack(own_stack):
    return own_stack


@pytest.fixture(scope="module")
def webhook_sink(own_webhook_sink):
    return own_webhook_sink


@pytest.fixture(scope="module")
def fake_wechat(own_fake_wechat):
    return own_fake_wechat


def visitor() -> str:
    return f"fault-{uuid.uuid4().hex}"


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP): it can do nothing until SIGCONT."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def unique_phone() -> str:
    return "137" + str(uuid.uuid4().int)[:8]


def leave_lead(stack, phone: str) -> None:
    sender = visitor()
    stack.text(sender, "帮我办一个呼叫中心许可证")
    stack.text(sender, "李女士")
    stack.text(sender, phone)
    stack.text(sender, "杭州某某网络科技有限公司")
    stack.text(sender, "浙江杭州")
    stack.text(sender, "地网")
    stack.text(sender, "没有")
    assert "已记录" in stack.text(sender, "/affirm")


def outbox(stack, phone: str) -> list[leads.Notification]:
    with db.session_scope(stack.database_url) as session:
        return session.query(leads.Notification).join(leads.Lead).filter(leads.Lead.phone == phone).all()


def test_action_server_down_apologises_with_the_contact_then_recovers(stack):
    pid = service_pid(stack, "actions")
    os.kill(pid, signal.SIGKILL)  # the launcher notices and starts a new one within seconds
    reply = stack.text(visitor(), "注册资本要多少")
    assert "系统暂时出了点问题" in reply and "顾问" in reply
    answer = eventually(lambda: "1000万" in stack.text(visitor(), "注册资本要多少"), 90)
    assert answer
    assert service_pid(stack, "actions") != pid


def test_notifier_down_leaves_leads_in_the_outbox_until_it_is_back(stack, webhook_sink):
    pid = service_pid(stack, "notifier")
    phone = unique_phone()
    os.kill(pid, signal.SIGSTOP)  # the worker hangs: nothing is delivered meanwhile
    try:
        # a stopped worker cannot pick up a lead stored after it stopped: no waiting needed to see it stay
        eventually(lambda: stopped(pid), 5)
        leave_lead(stack, phone)
        [row] = outbox(stack, phone)
        assert row.delivered_at is None
        assert not [r for r in webhook_sink.received if r["body"]["lead"]["phone"] == phone]
    finally:
        os.kill(pid, signal.SIGCONT)
    eventually(lambda: outbox(stack, phone)[0].delivered_at is not None, 30)
    delivered = [r for r in webhook_sink.received if r["body"]["lead"]["phone"] == phone]
    assert len(delivered) == 1 and delivered[0]["idempotency_key"] == row.idempotency_key


def test_staff_webhook_failing_is_retried_and_the_error_kept_until_delivered(stack, webhook_sink):
    phone = unique_phone()
    webhook_sink.failing = 1
    leave_lead(stack, phone)
    failed = eventually(lambda: [r for r in outbox(stack, phone) if r.attempts >= 1], 20)
    assert "503" in failed[0].last_error
    eventually(lambda: outbox(stack, phone)[0].delivered_at is not None, 40)  # back-off is 5 s
    assert len([r for r in webhook_sink.received if r["body"]["lead"]["phone"] == phone]) == 1


def test_wechat_api_failing_is_retried_logged_and_delivered(stack, fake_wechat):
    openid = follower()
    fake_wechat.unavailable_sends = 2
    pid = service_pid(stack, "actions")
    os.kill(pid, signal.SIGSTOP)  # a slow turn: the answer goes through the customer-service API
    try:
        response = requests.post(
            f"{stack.rasa_url}/webhooks/wechat/webhook", **signed(text_xml(openid, "年报什么时候报")), timeout=15
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.text == "success"
    delivered = eventually(lambda: [m for m in fake_wechat.sent if m["touser"] == openid], 60)
    assert "3月31日" in delivered[0]["text"]["content"] and fake_wechat.unavailable_sends == 0
    log = stack.log.read_text(errors="replace")
    assert "WeChat send to" in log and "retry in" in log


def test_rasa_restarted_mid_conversation_continues_from_the_tracker_store(stack):
    sender = visitor()
    assert "覆盖几个省" in stack.text(sender, "帮我看看我们公司能不能办")
    pid = service_pid(stack, "rasa")
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: service_pid(stack, "rasa") != pid, 60)  # the launcher starts a new one
    eventually(lambda: requests.get(f"{stack.rasa_url}/", timeout=2).status_code == 200, 240, interval=1)
    # the form was waiting for the coverage answer: it goes on where it stopped
    assert "内资、外资" in stack.text(sender, "我们业务覆盖全国")


def test_f11_a_service_that_keeps_crashing_is_retried_while_the_others_serve(stack):
    """F11: killed 5 times in a row (as by OOM under attack), the action server comes back, nothing else stops.

    A security finding tested here, on this module's own stack: the run's shared stack is never killed.
    """
    rasa, web = service_pid(stack, "rasa"), service_pid(stack, "web")
    for _ in range(5):
        pid = service_pid(stack, "actions", timeout=90)
        os.kill(pid, signal.SIGKILL)
        eventually(lambda killed=pid: service_pid(stack, "actions", timeout=0) != killed, 10)  # the launcher noticed
    # meanwhile the launcher, Rasa and the web app go on
    assert stack.process.poll() is None
    assert requests.get(f"{stack.rasa_url}/", timeout=10).status_code == 200
    assert requests.get(f"{stack.web_url}/healthz", timeout=10).status_code == 200
    assert (service_pid(stack, "rasa"), service_pid(stack, "web")) == (rasa, web)
    eventually(lambda: requests.get(f"{stack.action_url}/health", timeout=2).status_code == 200, 120, interval=1)
    assert "restarting in" in stack.log.read_text(errors="replace")
    assert "1000万" in stack.text(f"after-crashes-{uuid.uuid4().hex}", "注册资本要多少")
