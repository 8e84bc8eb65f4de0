"""The 微信客服 (WeCom KF) worker: what happens after WeCom's callback, outside the request.

The callback (bot/plugins/channels/wecom_kf.py) only records a nudge; ``KFWorker`` pulls ``sync_msg`` from
the cursor kept in the database, hands each message on once (to the assistant, or to the human who holds
the session: wecom_kf_desk.py) and has the answers sent within WeChat's rules (wecom_kf_send.py); see the
callback module's docstring for the whole design.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot import settings as settings_module
from bot.plugins.channels.guard import screen
from bot.plugins.channels.wecom_kf_api import STATE_QUEUED, STATE_SERVING, KFApi, KFError, mask
from bot.plugins.channels.wecom_kf_desk import KFDesk
from bot.plugins.channels.wecom_kf_reply import OPTION_ID, choice_key, render
from bot.plugins.channels.wecom_kf_send import KFSender, off_loop
from bot.store import wechat as wechat_store
from bot.store import wecom_kf as store

logger = logging.getLogger(__name__)


CHANNEL = store.CHANNEL
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # open_kfid, external_userid, msgid, servicer userid
WELCOME_WINDOW = 20  # seconds a welcome_code is valid
RETRY_AFTER = 15.0  # seconds after which a pull that could not finish is tried again
PRUNE_EVERY = 3600  # seconds between clean-ups of message rows sync_msg can no longer return
BACKLOG_GRACE = 60  # an account first seen through a callback: the message that caused it is newer than this
PLEASE_TYPE = "您好，目前只能识别文字消息。请直接输入您关于呼叫中心许可证的问题，例如「全网和地网有什么区别」。"
FAIL_TYPES = {
    0: "未知原因",
    1: "客服账号已删除",
    2: "应用已关闭",
    4: "会话已过期（超过48小时）",
    5: "会话已关闭",
    6: "超过5条限制",
    8: "主体未验证",
    10: "用户拒收",
    11: "企业未有成员登录企业微信App",
    12: "发送的消息为客服组件禁发的消息类型",
}


class KFWorker:
    """Pulls and hands on each message of every KF account once; ``sender`` replies, ``desk`` notes a human."""

    def __init__(
        self,
        config: settings_module.Settings,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        api: Optional[KFApi] = None,
        holder: Optional[str] = None,
    ) -> None:
        kf = config.wecom_kf
        self.config, self.url = config, config.database_url
        self.api = api or KFApi(kf.corp_id, kf.secret, kf.api_base, config.database_url)
        self.desk = KFDesk(config)
        self.sender = KFSender(self.api, self.desk)
        self.on_new_message = on_new_message
        self.holder = holder or uuid.uuid4().hex
        self.queue = kf.queue
        self._pulling: dict[str, asyncio.Task[Any]] = {}
        self._again: set[str] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._retries: list[asyncio.TimerHandle] = []
        self.retry_after = RETRY_AFTER
        self._pruned = time.monotonic()
        self._heart: Optional[asyncio.Future[Any]] = None

    def close(self) -> None:
        """Stop pulling in this process (what it had taken is taken again by others when its lease ends)."""
        for handle in self._retries:
            handle.cancel()
        for task in [*self._pulling.values(), *self._tasks]:
            task.cancel()

    # ---------- pulling

    async def start(self) -> None:
        """Know every KF account; an account new to the database has its backlog skipped, unanswered."""
        try:
            accounts = await off_loop(self.api.accounts)
            now = time.time()
            known = []
            for item in accounts:
                open_kfid = str(item.get("open_kfid") or "")
                if ID.fullmatch(open_kfid):
                    await off_loop(store.account, self.url, open_kfid, now)
                    known.append(open_kfid)
        except KFError as exc:
            logger.warning("WeCom KF: could not list the KF accounts (%s); they are found by their callbacks", exc)
            return
        except Exception:  # the database: the callbacks still bring every account
            logger.exception("WeCom KF: could not record the KF accounts")
            return
        logger.info("WeCom KF channel on: %d KF account(s)", len(known))
        for open_kfid in known:
            self.kick(open_kfid)

    def nudged(self, open_kfid: str, token: Optional[str]) -> None:
        """A callback: keep its token, mark the account pending (whichever process pulls), pull."""
        store.nudge(self.url, open_kfid, token, time.time() - BACKLOG_GRACE)
        self.kick(open_kfid)

    async def receive(self, open_kfid: str, token: Optional[str]) -> None:
        """``nudged`` with the database work off the event loop (the callback's request)."""
        await off_loop(store.nudge, self.url, open_kfid, token, time.time() - BACKLOG_GRACE)
        self.kick(open_kfid)

    def kick(self, open_kfid: str) -> None:
        task = self._pulling.get(open_kfid)
        if task is not None and not task.done():
            self._again.add(open_kfid)
            return
        self._pulling[open_kfid] = asyncio.ensure_future(self.pull(open_kfid))
        if self._heart is None or self._heart.done():
            self._heart = asyncio.ensure_future(self._heartbeat())
            self._tasks.add(self._heart)
            self._heart.add_done_callback(self._tasks.discard)

    async def _heartbeat(self) -> None:
        """Keep this process's leases (accounts and messages in hand) alive while it pulls: a slow turn is
        not taken for a dead process's."""
        while any(not task.done() for task in self._pulling.values()):
            await asyncio.sleep(store.LEASE / 3)
            try:
                await off_loop(store.renew, self.url, self.holder)
            except Exception:  # the database is away: the leases run out and others take over, as designed
                logger.warning("WeCom KF: leases not renewed", exc_info=True)

    async def idle(self, timeout: float = 30) -> None:
        """Wait until nothing is being pulled or sent in this process (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [t for t in [*self._pulling.values(), *self._tasks] if not t.done() and t is not self._heart]
            if not busy:
                return
            await asyncio.wait(busy, timeout=max(0.01, deadline - time.monotonic()))

    async def pull(self, open_kfid: str) -> None:
        """Pull the account until no callback is left unanswered; another process pulling it is left to it."""
        while True:
            self._again.discard(open_kfid)
            if not await off_loop(store.take_account, self.url, open_kfid, self.holder):
                # another process pulls it and, seeing our nudge pending, pulls again; should it have died,
                # its lease runs out and this retry takes over
                self._retry(open_kfid)
                return
            again, finished = False, False
            try:
                finished = await self._drain(open_kfid)
                again = await off_loop(store.release_account, self.url, open_kfid, self.holder)
            except Exception:  # a failure (the database away) must not stop the channel: the lease runs out
                logger.exception("WeCom KF: pulling %s failed", open_kfid[:8])
                finished = False
            if not finished:  # WeChat unreachable, or messages held by a process that may have died
                self._retry(open_kfid)
            elif time.monotonic() - self._pruned > PRUNE_EVERY:
                self._pruned = time.monotonic()
                await off_loop(store.prune, self.url)
            if not (again or open_kfid in self._again):
                return

    def _retry(self, open_kfid: str) -> None:
        self._retries = [h for h in self._retries if not h.cancelled() and h.when() > asyncio.get_running_loop().time()]
        self._retries.append(asyncio.get_running_loop().call_later(self.retry_after, self.kick, open_kfid))

    async def _drain(self, open_kfid: str) -> bool:
        """Pull and hand on every page; True when the cursor reached the end."""
        row = await off_loop(store.account, self.url, open_kfid, time.time())
        cursor, skip_before = row["cursor"], row["skip_before"]
        token = row["sync_token"]
        while True:
            try:
                page = await off_loop(self.api.sync_msg, open_kfid, cursor, token)
            except KFError as exc:
                if exc.errcode == 95007 and token:  # the callback's token expired: WeChat allows pulling without
                    logger.info("WeCom KF: sync token for %s no longer valid; pulling without it", open_kfid[:8])
                    await off_loop(store.forget_token, self.url, open_kfid, token)
                    token = None
                    continue
                logger.warning("WeCom KF: sync_msg failed (%s); pulling again later", exc)
                return False
            items = [m for m in page.get("msg_list") or [] if isinstance(m, dict)]
            await self._hand_on(open_kfid, items, skip_before)
            ids = [str(m.get("msgid")) for m in items if ID.fullmatch(str(m.get("msgid") or ""))]
            left = await off_loop(store.unfinished, self.url, open_kfid, ids)
            if left:  # taken by a live process elsewhere, or failing: the cursor stays, they come back
                logger.info("WeCom KF: %d message(s) of %s not handed on yet; cursor kept", len(left), open_kfid[:8])
                return False
            next_cursor = page.get("next_cursor")
            if isinstance(next_cursor, str) and next_cursor:
                cursor = next_cursor
                await off_loop(store.save_cursor, self.url, open_kfid, cursor)
            if not page.get("has_more"):
                return True

    async def _hand_on(self, open_kfid: str, items: list[dict[str, Any]], skip_before: float) -> None:
        """Handle a page: one visitor's messages in order, different visitors at the same time."""
        by_visitor: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_visitor.setdefault(_visitor_of(item), []).append(item)

        async def one_visitor(batch: list[dict[str, Any]]) -> None:
            for item in batch:
                if not await self._handle(open_kfid, item, skip_before):
                    return  # an earlier message is still in hand: the later ones wait, in order

        await asyncio.gather(*(one_visitor(batch) for batch in by_visitor.values()))

    async def _handle(self, open_kfid: str, item: dict[str, Any], skip_before: float) -> bool:
        """Handle one message unless done before; False while it is in another process's (or a retry's) hands."""
        msgid = str(item.get("msgid") or "")
        if not ID.fullmatch(msgid):
            logger.warning("WeCom KF: message without a usable msgid ignored")
            return True
        send_time = _number(item.get("send_time"))
        backlog = send_time < int(skip_before)  # WeChat's send_time is in whole seconds
        taken = await off_loop(store.take_message, self.url, open_kfid, msgid, self.holder, backlog)
        if taken is None:
            return True  # done before, or skipped as backlog
        if taken.get("busy"):
            return False
        try:
            if taken["reply"] is not None:
                await self.sender.deliver(open_kfid, msgid, taken["reply"])
            else:
                await self._dispatch(open_kfid, msgid, item, send_time)
        except KFError as exc:
            if exc.errcode is None:  # WeChat unreachable: leave it taken; it is pulled again later
                logger.warning("WeCom KF: message %s left for the next pull (%s)", msgid[:8], exc)
                return False
            logger.warning("WeCom KF: message %s: %s", msgid[:8], exc)
            await self.sender.problem(_visitor_of(item), open_kfid, "api", "接口调用失败，消息未处理", exc.errcode)
        except Exception:
            # the message would fail again on every pull: staff see it instead of an endless retry
            logger.exception("WeCom KF: message %s could not be handled", msgid[:8])
            await self.sender.problem(_visitor_of(item), open_kfid, "api", "消息处理出错，未回答")
        await off_loop(store.done, self.url, open_kfid, msgid)
        return True

    # ---------- what a message is

    async def _dispatch(self, open_kfid: str, msgid: str, item: dict[str, Any], send_time: float) -> None:
        origin = item.get("origin")
        if origin == 4 or item.get("msgtype") == "event":
            event = item["event"] if isinstance(item.get("event"), dict) else {}
            await self._event(open_kfid, msgid, event, send_time)
            return
        external_userid = str(item.get("external_userid") or "")
        if not ID.fullmatch(external_userid):
            logger.warning("WeCom KF: message %s without a usable external_userid ignored", msgid[:8])
            return
        if origin == 5:
            await off_loop(self.desk.servicer_said, external_userid, item)
            return
        if origin != 3:
            return
        await off_loop(store.customer_spoke, self.url, external_userid, open_kfid, send_time)
        text = await off_loop(self._text_of, external_userid, item)
        state, servicer = await off_loop(self.api.state, open_kfid, external_userid)
        if state in (STATE_QUEUED, STATE_SERVING):
            # a human serves (or will): record the message for them, say nothing
            await off_loop(self.desk.holds, open_kfid, external_userid, state, servicer)
            if text is not None:
                await self._turn(external_userid, text, msgid)
            return
        if text is None:
            bodies: list[dict[str, Any]] = [{"msgtype": "text", "text": {"content": PLEASE_TYPE}}]
            await self.sender.keep_and_deliver(open_kfid, msgid, external_userid, bodies, state)
            return
        messages = await self._turn(external_userid, text, msgid)
        bodies, payloads = render(messages)
        wechat_store.remember_choices(self.url, choice_key(external_userid), payloads)
        if await off_loop(self.desk.requested, external_userid):
            await self._hand_to_human(open_kfid, msgid, external_userid, bodies, state)
            return
        await self.sender.keep_and_deliver(open_kfid, msgid, external_userid, bodies, state)

    def _text_of(self, external_userid: str, item: dict[str, Any]) -> Optional[str]:
        """What the visitor said, for the assistant; None for what it cannot read (pictures, files …)."""
        if item.get("msgtype") != "text" or not isinstance(item.get("text"), dict):
            return None
        body = item["text"]
        menu_id = body.get("menu_id")
        if isinstance(menu_id, str) and menu_id:
            number = OPTION_ID.fullmatch(menu_id)
            if number:
                payload = wechat_store.choice(self.url, choice_key(external_userid), int(number.group(1)) + 1)
                if payload:
                    return payload
            # an id is a payload like a typed one: only those the assistant offers pass
            payload = screen(menu_id)
            if payload.startswith("/"):
                return payload
        content = body.get("content")
        return screen(content) if isinstance(content, str) else None

    async def _turn(self, external_userid: str, text: str, msgid: str, metadata: Optional[dict] = None) -> list:
        """Run one turn of the assistant (through the guard); return its messages."""
        collector = CollectingOutputChannel()
        message = UserMessage(
            text,
            collector,
            external_userid,
            input_channel=CHANNEL,
            message_id=msgid,
            metadata={"wecom_kf": True, **(metadata or {})},
        )
        await self.on_new_message(message)
        return list(collector.messages)

    # ---------- events

    async def _event(self, open_kfid: str, msgid: str, event: dict[str, Any], send_time: float) -> None:
        kind = event.get("event_type")
        external_userid = str(event.get("external_userid") or "")
        if kind == "msg_send_fail":
            fail_type = int(_number(event.get("fail_type")))
            reason = FAIL_TYPES.get(fail_type, FAIL_TYPES[0])
            logger.warning("WeCom KF: a message to %s failed (fail_type %s)", mask(external_userid), fail_type)
            if fail_type == 6:
                await off_loop(store.exhaust, self.url, external_userid)
            await self.sender.problem(external_userid, open_kfid, "failed", f"消息发送失败：{reason}", fail_type)
            return
        if not ID.fullmatch(external_userid):
            return
        if kind == "enter_session":
            scene, scene_param = str(event.get("scene") or ""), str(event.get("scene_param") or "")
            await off_loop(store.entered, self.url, external_userid, open_kfid, scene, scene_param)
            code = event.get("welcome_code")
            if isinstance(code, str) and code and time.time() - send_time < WELCOME_WINDOW:
                messages = await self._turn(external_userid, "/greet", msgid, {"scene": scene[:64]})
                bodies, payloads = render(messages)
                wechat_store.remember_choices(self.url, choice_key(external_userid), payloads)
                await self.sender.on_event_code(open_kfid, msgid, external_userid, code, bodies, "welcome")
        elif kind == "session_status_change":
            change = int(_number(event.get("change_type")))
            servicer = str(event.get("new_servicer_userid") or "") or None
            if change in (1, 2, 4):  # picked up from the queue, transferred, re-opened by a servicer
                await off_loop(self.desk.holds, open_kfid, external_userid, STATE_SERVING, servicer)
            elif change == 3:  # the servicer ended the session: the assistant answers again
                await self._human_left(open_kfid, msgid, external_userid, event.get("msg_code"))

    # ---------- handoff

    async def _hand_to_human(self, open_kfid: str, msgid: str, external_userid: str, bodies: list, state: int) -> None:
        """「转人工」: to a receiving servicer (state 3), else to the console's desk or WeCom's queue."""
        servicer = None
        try:
            for item in await off_loop(self.api.servicers, open_kfid):
                if item.get("status") == 0 and ID.fullmatch(str(item.get("userid") or "")):
                    servicer = str(item["userid"])
                    break
        except KFError as exc:
            logger.warning("WeCom KF: servicer list unavailable (%s)", exc)
        target = STATE_SERVING if servicer else (STATE_QUEUED if self.queue == "wecom" else None)
        if target is None:  # the console's desk: the session stays with the assistant, staff answer through it
            await self.sender.keep_and_deliver(open_kfid, msgid, external_userid, bodies, state, notice=True)
            return
        code = ""
        try:
            code = await off_loop(self.api.trans, open_kfid, external_userid, target, servicer)
        except KFError as exc:
            logger.warning("WeCom KF: handoff of %s refused (%s)", mask(external_userid), exc)
            await self.sender.problem(external_userid, open_kfid, "api", "转人工失败，仍由助手接待", exc.errcode)
            await self.sender.keep_and_deliver(open_kfid, msgid, external_userid, bodies, state, notice=True)
            return
        await off_loop(self.desk.holds, open_kfid, external_userid, target, servicer)
        if code:
            await self.sender.on_event_code(open_kfid, msgid, external_userid, code, bodies, "handoff notice")

    async def _human_left(self, open_kfid: str, msgid: str, external_userid: str, code: Any) -> None:
        await off_loop(self.desk.left, open_kfid, external_userid)
        if isinstance(code, str) and code:
            text = "人工服务已结束，助手继续为您服务。还有其他问题吗？"
            bodies = [{"msgtype": "text", "text": {"content": text}}]
            await self.sender.on_event_code(open_kfid, msgid, external_userid, code, bodies, "end notice")


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _visitor_of(item: dict[str, Any]) -> str:
    event = item["event"] if isinstance(item.get("event"), dict) else {}
    return str(item.get("external_userid") or event.get("external_userid") or "")
