"""Sending to 微信客服 visitors within WeChat's rules.

Only in session states 0/1; at most 5 messages within 48 h of the visitor's last message, one of them kept
for a handoff notice (what does not fit is merged into one message, or held for staff); an answer is kept
in the database before it is sent, and each part sent is noted, so a retake after a restart sends what is
left with the same WeChat msgids and nothing twice; a message with an event's code (welcome, handoff and
end notices) costs nothing of the budget. Whatever WeChat refuses is logged by code and kept for staff
(console, 微信客服 page).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial
from typing import Any, Callable, Optional, Text

from rasa.core.channels.channel import OutputChannel

from bot.plugins.channels.wecom_kf_api import STATE_BOT, STATE_QUEUED, STATE_SERVING, KFApi, KFError, mask
from bot.plugins.channels.wecom_kf_desk import KFDesk
from bot.plugins.channels.wecom_kf_reply import as_text, choice_key, render, reply_id, squeeze
from bot.store import wechat as wechat_store
from bot.store import wecom_kf as store

logger = logging.getLogger(__name__)

SEND_REFUSALS = {
    95001: "超过5条限制，未发送",
    95002: "超过48小时，未发送",
    95013: "会话已结束，未发送",
    95018: "会话状态不允许发送（可能已由人工接待）",
}


async def off_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call (the database, the KF API, Rasa's HTTP API) in the event loop's executor."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))


class KFSender:
    """Sends answers, notices and staff's messages to KF visitors; keeps for staff what could not be sent."""

    def __init__(self, api: KFApi, desk: KFDesk) -> None:
        self.api, self.desk, self.url = api, desk, desk.url

    async def keep_and_deliver(
        self,
        open_kfid: str,
        msgid: str,
        external_userid: str,
        bodies: list[dict[str, Any]],
        state: int,
        notice: bool = False,
    ) -> None:
        """Fit the answer to the visitor's budget, keep it (a retake sends it as it is), send it."""
        if not bodies:
            return
        room = await off_loop(store.allowance, self.url, external_userid, notice)
        fitted = squeeze(bodies, room)  # what the budget cannot hold is merged into one message
        if not fitted:
            logger.warning("WeCom KF: answer to %s held back: no messages left in its 48 h", mask(external_userid))
            text = "\n".join(as_text(b) for b in bodies)
            await self.problem(external_userid, open_kfid, "held", "已达5条或48小时限制，回答未发送", None, text)
            return
        reply = {"to": external_userid, "bodies": fitted, "sent": [], "state": state}
        await off_loop(store.answered, self.url, open_kfid, msgid, reply)
        await self.deliver(open_kfid, msgid, reply)

    async def deliver(self, open_kfid: str, msgid: str, reply: dict[str, Any]) -> None:
        """Send the kept answer to ``msgid``; parts sent before a restart are not sent again."""
        external_userid, bodies = reply["to"], reply["bodies"]
        if reply.get("state") == 0 and not reply["sent"]:
            try:  # the assistant receives the session now (state 1): WeCom's app shows who holds it
                await off_loop(self.api.trans, open_kfid, external_userid, STATE_BOT)
            except KFError as exc:
                if exc.errcode != 95016:  # 95016: moved already (by this answer, before a restart)
                    logger.info("WeCom KF: session of %s not moved to the assistant (%s)", mask(external_userid), exc)
        for part, body in enumerate(bodies):
            if part in reply["sent"]:  # sent before a restart: never twice
                continue
            await self.send_one(open_kfid, external_userid, reply_id(open_kfid, msgid, part), body)
            reply = {**reply, "sent": [*reply["sent"], part]}
            await off_loop(store.answered, self.url, open_kfid, msgid, reply)

    async def send_one(self, open_kfid: str, external_userid: str, send_id: str, body: dict[str, Any]) -> bool:
        """Send one message within the budget; a refusal is kept for staff (False). No answer: KFError."""
        try:
            await off_loop(self.api.send_msg, external_userid, open_kfid, send_id, body)
        except KFError as exc:
            if exc.errcode is None:
                raise
            if exc.errcode == 95001:
                await off_loop(store.exhaust, self.url, external_userid)
            if exc.errcode == 95018:
                state, servicer = await off_loop(self.api.state, open_kfid, external_userid)
                if state in (STATE_QUEUED, STATE_SERVING):
                    await off_loop(self.desk.holds, open_kfid, external_userid, state, servicer)
            detail = SEND_REFUSALS.get(exc.errcode, "微信拒绝了这条消息")
            logger.warning("WeCom KF: message to %s refused (%s)", mask(external_userid), exc)
            await self.problem(external_userid, open_kfid, "refused", detail, exc.errcode, as_text(body))
            return False
        await off_loop(store.spend, self.url, external_userid)
        return True

    async def on_event_code(
        self, open_kfid: str, msgid: str, external_userid: str, code: str, bodies: list, what: str
    ) -> None:
        """One message with an event's code (welcome, handoff notice): the bubbles merged into one."""
        if not bodies:
            return
        body = squeeze(bodies, 1)[0]
        try:
            await off_loop(self.api.send_on_event, code, reply_id(open_kfid, msgid, 0), body)
        except KFError as exc:
            logger.warning("WeCom KF: %s to %s refused (%s)", what, mask(external_userid), exc)
            await self.problem(external_userid, open_kfid, "refused", f"{what} 未发送", exc.errcode, as_text(body))

    async def send_outside_turn(self, external_userid: str, messages: list[dict[str, Any]]) -> None:
        """Staff's messages from the console and notices outside a visitor's turn."""
        visitor = await off_loop(store.visitor, self.url, external_userid)
        if visitor is None:
            logger.warning("WeCom KF: no KF account known for %s; message not sent", mask(external_userid))
            return
        open_kfid = visitor["open_kfid"]
        bodies, payloads = render(messages)
        if payloads:
            wechat_store.remember_choices(self.url, choice_key(external_userid), payloads)
        try:
            state, _ = await off_loop(self.api.state, open_kfid, external_userid)
        except KFError as exc:
            await self.problem(external_userid, open_kfid, "api", "无法查询会话状态，消息未发送", exc.errcode)
            return
        if state not in (0, STATE_BOT):
            text = "\n".join(as_text(b) for b in bodies)
            await self.problem(external_userid, open_kfid, "held", SEND_REFUSALS[95018], 95018, text)
            return
        room = await off_loop(store.allowance, self.url, external_userid, True)
        for body in squeeze(bodies, room) if room else []:
            await self.send_one(open_kfid, external_userid, "s" + uuid.uuid4().hex[:30], body)
        if not room:
            text = "\n".join(as_text(b) for b in bodies)
            await self.problem(external_userid, open_kfid, "held", "已达5条或48小时限制，消息未发送", None, text)

    async def problem(
        self,
        external_userid: str,
        open_kfid: Optional[str],
        kind: str,
        detail: str,
        code: Optional[int] = None,
        text: Optional[str] = None,
    ) -> None:
        """Keep for staff (console, 微信客服 page) what went wrong with a visitor's message."""
        await off_loop(store.problem, self.url, external_userid or "unknown", open_kfid, kind, detail, code, text)


class KFOutput(OutputChannel):
    """Messages outside a turn (staff on the console's handoff desk, expiry notices): ``send_msg``."""

    @classmethod
    def name(cls) -> Text:
        return store.CHANNEL

    def __init__(self, sender: KFSender) -> None:
        self.sender = sender

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.sender.send_outside_turn(recipient_id, [{"text": text}])

    async def send_text_with_buttons(self, recipient_id: Text, text: str, buttons: list, **kwargs: Any) -> None:
        await self.sender.send_outside_turn(recipient_id, [{"text": text, "buttons": buttons}])
