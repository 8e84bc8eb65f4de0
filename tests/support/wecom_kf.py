"""The KF channel's worker against the fake KF API, with a small scripted assistant instead of Rasa."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import UserMessage

from bot import db, settings
from bot.plugins.channels.wecom_kf_worker import KFWorker
from bot.store import handoffs
from tests.support.fake_wecom_kf import KF, FakeWeComKF
from tests.support.waiting import eventually


class ScriptedAssistant:
    """Answers as the assistant's shapes do: 「答：…」, several bubbles, buttons, a handoff that queues."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.heard: list[tuple[str, str]] = []  # (sender, text) of every turn run
        self.before_answer: Optional[Callable[[UserMessage], Any]] = None

    async def __call__(self, message: UserMessage) -> None:
        self.heard.append((message.sender_id, message.text))
        if self.before_answer is not None:
            result = self.before_answer(message)
            if asyncio.iscoroutine(result):
                await result
        out, sender, text = message.output_channel, message.sender_id, message.text or ""
        if text == "/greet":
            await out.send_response(
                sender,
                {
                    "text": "您好！我是呼叫中心许可证助手。",
                    "buttons": [{"title": "申请条件", "payload": "/ask_conditions"}],
                },
            )
        elif text == "转人工":
            with db.session_scope(self.database_url) as session:
                handoffs.queue_handoff(sender, "wecom_kf", session=session)
            await out.send_response(sender, {"text": "好的，正在为您转接人工顾问，请稍候。"})
        elif text == "分三段":
            for part in ("第一段。", "第二段。", "第三段。"):
                await out.send_response(sender, {"text": part})
        elif text == "模糊":
            await out.send_response(
                sender,
                {
                    "text": "您是想问：",
                    "buttons": [
                        {"title": "注册资本要多少", "payload": "/ask_capital"},
                        {"title": "办理流程", "payload": "/ask_process"},
                    ],
                },
            )
        elif text == "很长":
            await out.send_response(sender, {"text": "许可证。" * 400})
        else:
            await out.send_response(sender, {"text": f"答：{text}"})


def kf_settings(database_url: str, fake: FakeWeComKF, **extra: str) -> settings.Settings:
    return settings.load({"DATABASE_URL": database_url, **KF, "WECOM_KF_API_BASE": fake.base, **extra})


class Transcript:
    """What the worker would add to Rasa's tracker through its HTTP API."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, external_userid: str, events: list[dict[str, Any]]) -> None:
        self.events.extend((external_userid, e) for e in events)

    def of(self, external_userid: str) -> list[dict[str, Any]]:
        return [e for who, e in self.events if who == external_userid]


def worker(
    config: settings.Settings, assistant: Callable[[UserMessage], Awaitable[Any]], transcript: Transcript
) -> KFWorker:
    made = KFWorker(config, assistant)
    made.desk.append = transcript  # type: ignore[method-assign]
    made.retry_after = 0.2
    return made


async def settle(*workers: KFWorker, check: Optional[Callable[[], bool]] = None, timeout: float = 20) -> None:
    """Wait until ``check`` holds (if given) and every worker is idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for each in workers:
            await each.idle(max(0.05, deadline - time.monotonic()))
        if check is None or check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the KF workers did not settle in time")


class WorkerChat:
    """Visitors of one KF account talking to workers in this process: a message, WeCom's callback, the wait."""

    def __init__(self, fake: FakeWeComKF, account: str) -> None:
        self.fake, self.account = fake, account

    async def nudge(
        self, worker: KFWorker, check: Optional[Callable[[], Any]] = None, token: Optional[str] = None
    ) -> None:
        """WeCom's callback (a fresh sync token unless given) reaches ``worker``; wait for ``check`` and idleness."""
        worker.nudged(self.account, token or self.fake.sync_token())
        await settle(worker, check=check)

    async def ask(
        self,
        worker: KFWorker,
        user: str,
        text: str,
        check: Optional[Callable[[], Any]] = None,
        token: Optional[str] = None,
        **says: Any,
    ) -> None:
        """``user`` says ``text`` (``says``: menu_id, msgtype …); wait for ``check``, by default for one more
        message to ``user``."""
        before = len(self.fake.to(user))
        self.fake.says(self.account, user, text, **says)
        await self.nudge(worker, check or (lambda: len(self.fake.to(user)) > before), token)


class KFChat:
    """One WeChat user talking to the running stack through 微信客服 (the fake KF API and signed callbacks)."""

    def __init__(self, webhook: str, fake: FakeWeComKF, account: str) -> None:
        import requests

        self.requests, self.webhook, self.fake, self.account = requests, webhook, fake, account
        from tests.support.fake_wecom_kf import visitor

        self.user = visitor()

    def nudge(self) -> None:
        response = self.requests.post(self.webhook, **self.fake.callback(self.account), timeout=10)
        assert (response.status_code, response.text) == (200, "success")

    def received(self) -> list[dict[str, Any]]:
        return self.fake.to(self.user)

    def answer_to(self, act: Callable[[], Any], timeout: float = 60) -> dict[str, Any]:
        """Do ``act`` (something the user does), send the callback, return the one message that comes back."""
        before = len(self.received())
        act()
        self.nudge()
        return eventually(lambda: self.received()[before:], timeout)[-1]

    def say(self, text: str, menu_id: str = "") -> dict[str, Any]:
        return self.answer_to(lambda: self.fake.says(self.account, self.user, text, menu_id=menu_id))


def text_of(message: dict[str, Any]) -> str:
    if message.get("msgtype") == "msgmenu":
        menu = message["msgmenu"]
        return "\n".join([menu.get("head_content") or ""] + [i["click"]["content"] for i in menu["list"]])
    return str(message["text"]["content"])


def menu_ids(message: dict[str, Any]) -> list[str]:
    return [i["click"]["id"] for i in (message.get("msgmenu") or {}).get("list") or []]
