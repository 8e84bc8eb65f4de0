"""微信客服 across a crash: Rasa killed mid-batch while callbacks repeat; after the launcher restarts it, every
message has exactly one answer, in order (a stack of this module's own: its Rasa is killed)."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.support.fake_wecom_kf import FakeWeComKF, visitor
from tests.support.stack import running, service_pid
from tests.support.waiting import eventually
from tests.support.wecom_kf import text_of

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def kf_fake():
    with FakeWeComKF() as fake:
        yield fake


@pytest.fixture(scope="module")
def kf_stack(tmp_path_factory, own_fake_wechat, kf_fake):
    with running(tmp_path_factory.mktemp("kf-restart"), own_fake_wechat.base, WECOM_KF_API_BASE=kf_fake.base) as stack:
        yield stack


def test_a_crash_mid_batch_neither_drops_nor_repeats_an_answer(kf_stack, kf_fake):
    url = f"{kf_stack.rasa_url}/webhooks/wecom_kf/webhook"
    account = kf_fake.add_account()
    users = [visitor() for _ in range(4)]
    questions = ["注册资本要多少", "需要哪些材料", "年报什么时候报", "办理流程是什么"]

    def callback() -> None:
        try:
            requests.post(url, **kf_fake.callback(account), timeout=10)
        except requests.RequestException:  # Rasa is down: WeCom would retry, as the test does below
            pass

    for question in questions:
        for user in users:
            kf_fake.says(account, user, question)
    callback()
    callback()  # WeCom repeating the callback
    eventually(lambda: any(kf_fake.to(u) for u in users), timeout=60)  # the batch is under way
    rasa = service_pid(kf_stack, "rasa")
    os.kill(rasa, signal.SIGKILL)
    assert not all(len(kf_fake.to(u)) == len(questions) for u in users), "the batch ended before the crash"
    eventually(lambda: (pid := service_pid(kf_stack, "rasa", timeout=0)) and pid != rasa, timeout=60)
    eventually(lambda: _up(kf_stack), timeout=300)  # the launcher restarted Rasa: it loads the model again
    callback()
    eventually(lambda: all(len(kf_fake.to(u)) >= len(questions) for u in users), timeout=240)
    before = sum(1 for call in kf_fake.sync_calls if call.get("open_kfid") == account)
    callback()  # once more: whatever was in hand is settled after this pull
    eventually(lambda: sum(1 for c in kf_fake.sync_calls if c.get("open_kfid") == account) > before, timeout=60)
    for user in users:
        answers = [text_of(m) for m in kf_fake.to(user)]
        assert len(answers) == len(questions), answers
        assert "100万元" in answers[0] and "材料" in answers[1] and "年报" in answers[2]


def _up(stack) -> bool:
    try:
        return requests.get(f"{stack.rasa_url}/", timeout=2).ok
    except requests.RequestException:
        return False
