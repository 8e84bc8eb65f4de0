"""Rasa input channel for 微信客服 (WeCom KF), served at /webhooks/wecom_kf/webhook.

WeCom's callback carries no message, only a nudge (``kf_msg_or_event``, a sync token, the KF account):
the request is checked (signature over the encrypted body, a timestamp within 5 minutes, a timestamp and
nonce never reused with another body), the nudge recorded in the database and ``success`` answered at
once. The work happens outside the request, in ``KFWorker`` (wecom_kf_worker.py; it sends through
wecom_kf_send.py and notes a human's takeover through wecom_kf_desk.py):

- one puller per KF account across every process (a lease in the database); a nudge that reaches
  another process marks the account ``pending`` and the puller pulls again;
- ``sync_msg`` from the cursor kept in the database, following ``has_more`` (also past empty pages);
  the cursor moves only after every message of a page is handed on (answered, recorded or skipped);
- each ``msgid`` is taken in the database before it is handled and marked done after: a repeated
  callback, a restart mid-batch or a second instance never answers it twice, and a message taken by a
  process that died is taken again when its lease runs out; the answer is kept before it is sent, so a
  retake sends the same answer (with the same WeChat msgids) instead of asking the assistant again;
- a KF account seen for the first time: its backlog (messages before that moment) is skipped unanswered.

Replies follow WeChat's rules: only in session states 0/1; at most 5 messages within 48 h of the
visitor's last message, one of them kept for a handoff notice (a turn's bubbles are merged into one);
text ≤ 2048 bytes; buttons as a ``msgmenu`` whose clicks come back as the payload; the greeting on
``enter_session`` through ``send_msg_on_event`` within its 20 s. Whatever WeChat refuses or reports
failed (``msg_send_fail``, 95xxx) is logged by code and kept for staff (console, 微信客服 page).

「转人工」 (the assistant's own handoff action) moves the session to a receiving servicer (state 3), or
leaves it on the console's handoff desk (WECOM_KF_QUEUE=console) or in WeCom's queue (``wecom``, state 2).
While a human serves, the assistant is silent; servicers' messages (origin 5) go into the transcript as
staff messages; when WeCom ends the session the assistant answers again.

Settings (environment, bot/settings.py): WECOM_KF_CORP_ID, WECOM_KF_SECRET, WECOM_KF_TOKEN,
WECOM_KF_AES_KEY (all or none: without them the channel is off), WECOM_KF_API_BASE, WECOM_KF_QUEUE.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings as settings_module
from bot.plugins.channels.guard import Guard
from bot.plugins.channels.wecom_kf_send import KFOutput
from bot.plugins.channels.wecom_kf_worker import CHANNEL, ID, KFWorker
from bot.store import wechat as wechat_store

if TYPE_CHECKING:
    from wechatpy.enterprise.crypto import WeChatCrypto

MAX_BODY = 16 * 1024  # a nudge is a few hundred bytes
MAX_SKEW = 300
TIMESTAMP = re.compile(r"[0-9]{1,12}")
NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SIGNATURE = re.compile(r"[0-9a-f]{40}")
SYNC_TOKEN = re.compile(r"[A-Za-z0-9_=+/-]{1,256}")

logger = logging.getLogger(__name__)


class WeComKFInput(InputChannel):
    """The 微信客服 channel: the callback URL; the work is done by ``KFWorker``."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> WeComKFInput:
        return cls()

    def __init__(self) -> None:
        self.config = settings_module.current()
        self.kf = self.config.wecom_kf
        self.worker: Optional[KFWorker] = None
        if not self.kf.enabled:
            logger.warning("WeCom KF channel is off: WECOM_KF_CORP_ID, _SECRET, _TOKEN and _AES_KEY are not set")

    def get_output_channel(self) -> Optional[OutputChannel]:
        return KFOutput(self.worker.sender) if self.worker is not None else None

    def _crypto(self) -> WeChatCrypto:
        from wechatpy.enterprise.crypto import WeChatCrypto

        return WeChatCrypto(self.kf.token, self.kf.aes_key, self.kf.corp_id)

    def _signed(self, request: Request, encrypted: str) -> bool:
        """Whether ``msg_signature`` signs ``encrypted`` with a timestamp within MAX_SKEW of now."""
        args = request.args
        timestamp, nonce = args.get("timestamp") or "", args.get("nonce") or ""
        signature = args.get("msg_signature") or ""
        if not (TIMESTAMP.fullmatch(timestamp) and NONCE.fullmatch(nonce) and SIGNATURE.fullmatch(signature)):
            return False
        expected = hashlib.sha1("".join(sorted([self.kf.token, timestamp, nonce, encrypted])).encode()).hexdigest()
        return hmac.compare_digest(expected, signature) and abs(time.time() - int(timestamp)) <= MAX_SKEW

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("wecom_kf_webhook", __name__)
        if self.kf.enabled:
            # payloads were screened when read (menu ids are ours); size and rate per visitor here
            self.worker = KFWorker(self.config, Guard().wrap(on_new_message, screen_payloads=False))

        @hook.listener("after_server_start")
        async def start(*_: Any) -> None:
            if self.worker is not None:
                task = asyncio.ensure_future(self.worker.start())
                self.worker._tasks.add(task)
                task.add_done_callback(self.worker._tasks.discard)

        @hook.listener("before_server_stop")
        async def stop(*_: Any) -> None:
            if self.worker is not None:  # what it had in hand is taken again when its leases run out
                self.worker.close()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.worker else "off"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self._verify(request)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request)

        return hook

    def _verify(self, request: Request) -> HTTPResponse:
        """WeCom's URL check: the decrypted ``echostr`` for a valid, fresh signature."""
        if self.worker is None:
            return response.text("WeCom KF channel is off", status=503)
        echostr = request.args.get("echostr") or ""
        if not echostr or len(echostr) > 1024 or not self._signed(request, echostr):
            return response.text("invalid signature", status=403)
        try:
            plain = _prp_crypto()(self._crypto().key).decrypt(echostr, self.kf.corp_id)
        except Exception:  # bad ciphertext or another corp's: say which kind only
            return response.text("bad request", status=400)
        return response.text(plain)

    async def _receive(self, request: Request) -> HTTPResponse:
        """Check and record a callback; the pull runs afterwards, outside this request."""
        if self.worker is None:
            return response.text("WeCom KF channel is off", status=503)
        body = request.body or b""
        if len(body) > MAX_BODY:
            return response.text("request body too large", status=413)
        loop = asyncio.get_running_loop()
        try:
            nudge = await loop.run_in_executor(None, self._read, request, body)
        except PermissionError as exc:
            logger.warning("WeCom KF callback refused: %s", exc)
            return response.text("invalid signature", status=403)
        except ValueError as exc:
            logger.warning("WeCom KF callback refused: %s", exc)
            return response.text("bad request", status=400)
        if nudge is None:  # another kind of WeCom event on this app's URL: nothing for the channel
            return response.text("success")
        open_kfid, token = nudge
        try:
            await self.worker.receive(open_kfid, token)
        except Exception:  # the database is down: WeCom retries the callback, nothing is lost
            logger.exception("WeCom KF: callback for %s not recorded", open_kfid[:8])
            return response.text("unavailable", status=503)
        return response.text("success")

    def _read(self, request: Request, body: bytes) -> Optional[tuple[str, Optional[str]]]:  # noqa: C901
        """The (open_kfid, sync token) of a signed, fresh, encrypted nudge; None for another event.

        Raises PermissionError for a bad signature or a replay, ValueError for a malformed body.
        """
        import defusedxml.ElementTree as safe_xml

        try:
            envelope = safe_xml.fromstring(body)  # refuses DTDs and entities: no billion laughs
        except Exception:
            raise ValueError("the body is not XML") from None
        encrypted = [e.text or "" for e in envelope.iter("Encrypt")]
        if len(encrypted) != 1 or not encrypted[0] or len(envelope) > 4:
            raise ValueError("the body is not one encrypted message")
        if not self._signed(request, encrypted[0]):
            raise PermissionError("bad or expired signature")
        digest = hashlib.sha256(body).hexdigest()
        args = request.args
        if not wechat_store.admit(self.config.database_url, f"kf{args.get('timestamp')}", args.get("nonce"), digest):
            raise PermissionError("its timestamp and nonce came before with another body")
        try:
            plain = _prp_crypto()(self._crypto().key).decrypt(encrypted[0], self.kf.corp_id)
            message = safe_xml.fromstring(plain)
        except Exception:  # bad ciphertext, another corp's, malformed inside: say which kind only
            raise ValueError("the encrypted message cannot be read") from None
        fields: dict[str, list[str]] = {}
        for element in message:
            if len(element):
                raise ValueError("a field has elements inside")
            fields.setdefault(element.tag, []).append(element.text or "")
        if any(len(values) > 1 for values in fields.values()):
            raise ValueError("a field is repeated")
        if (fields.get("MsgType") or [""])[0] != "event" or (fields.get("Event") or [""])[0] != "kf_msg_or_event":
            return None
        open_kfid, token = (fields.get("OpenKfId") or [""])[0], (fields.get("Token") or [""])[0]
        if not ID.fullmatch(open_kfid):
            raise ValueError("OpenKfId missing or malformed")
        if token and not SYNC_TOKEN.fullmatch(token):
            raise ValueError("Token malformed")
        return open_kfid, token or None


def _prp_crypto() -> Any:
    from wechatpy.enterprise.crypto import PrpCrypto

    return PrpCrypto
