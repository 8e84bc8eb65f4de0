"""Rasa input channel for a WeChat Official Account (公众号), served at /webhooks/wechat/webhook.

WeChat's rules shape this module:
- every request is signed; plaintext and safe (AES) mode are both supported,
  and with WECHAT_AES_KEY set only encrypted messages are accepted (the
  plaintext signature covers neither the body nor the time);
- a request's timestamp must be within 5 minutes of now, and its timestamp
  and nonce are remembered (in the database) so a captured URL cannot carry
  another body; WeChat's own retry of the same request is answered as usual;
- WeChat waits 5 s, then retries the same message up to 3 times: a turn that
  finishes within ``WECHAT_REPLY_TIMEOUT`` (4 s) is answered passively, a
  slower one is answered ``success`` at once and delivered through the
  customer-service message API when it is done (the bot's work is never
  cancelled);
- retries are de-duplicated through the database per follower and MsgId, so
  several processes answer a message once and give every retry the same reply;
- messages whose fields are missing, nested, repeated or out of range get a
  400; menu keys pass the same payload guard as typed text.

Settings (environment): WECHAT_TOKEN (the channel is off without it),
WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_AES_KEY (optional: safe mode),
WECHAT_API_BASE (the API's address; tests point it at a local fake),
WECHAT_REPLY_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import settings as settings_module
from bot.plugins.channels import wechat_api
from bot.plugins.channels.guard import Guard, screen
from bot.store import wechat as wechat_store

if TYPE_CHECKING:  # wechatpy loads with the first message, not with Rasa's channels
    from wechatpy.client import WeChatClient
    from wechatpy.crypto import WeChatCrypto
    from wechatpy.messages import BaseMessage

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
PASSIVE_LIMIT = 600  # characters per reply: WeChat caps a text message at 2048 bytes
PLEASE_TYPE = "您好，目前只能识别文字消息。请直接输入您关于呼叫中心许可证的问题，例如「全网和地网有什么区别」。"
MENU_KEY = re.compile(r"^[a-z_]{3,60}$")
NUMBER = re.compile(r"^\s*(\d{1,2})\s*$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # WeChat OpenIDs are 28 such characters
TIMESTAMP = re.compile(r"^\d{1,12}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_SKEW = 300  # seconds a signed request stays valid, either side of now


def mask(openid: str) -> str:
    return openid[:4] + "…" if openid else ""


def failure(exc: BaseException) -> str:
    """An API failure as logged: its type and WeChat's errcode or the HTTP status, never its text or URL."""
    code = getattr(exc, "errcode", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


# the text fields each kind of message carries to the assistant
TEXT_FIELDS = {"text": ("content",), "voice": ("recognition",), "event": ("key",)}


def check_fields(message: BaseMessage) -> None:
    """Raise ValueError unless the fields this channel reads are single, flat and in range."""
    try:
        openid, created, msg_id, target = message.source, message.create_time, message.id, message.target
        texts = [getattr(message, name, None) for name in TEXT_FIELDS.get(message.type, ())]
    except (ValueError, TypeError, OverflowError, OSError):
        raise ValueError("a number field is not a number or out of range") from None
    if not isinstance(openid, str) or not OPENID.match(openid):
        raise ValueError("FromUserName missing, repeated or not an OpenID")
    if created is None or isinstance(created, (dict, list)):
        raise ValueError("CreateTime missing or repeated")
    if not isinstance(msg_id, int) or not 0 <= msg_id < 2**64:
        raise ValueError("MsgId repeated or not a 64-bit number")
    if not isinstance(target, (str, type(None))) or not all(isinstance(t, (str, type(None))) for t in texts):
        raise ValueError("a text field is repeated or has elements inside")


def render_messages(messages: List[Dict[str, Any]]) -> tuple[str, List[str]]:
    """Join a turn's bot messages into text; buttons become numbered options.

    Returns the text and the payloads in option order.
    """
    parts, payloads = [], []
    for message in messages:
        if message.get("text"):
            parts.append(message["text"])
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            lines = []
            for button in buttons:
                payloads.append(button.get("payload") or button.get("title"))
                lines.append(f"回复 {len(payloads)}：{button.get('title')}")
            parts.append("\n".join(lines))
    return "\n\n".join(parts), payloads


def split_text(text: str, limit: int = PASSIVE_LIMIT) -> List[str]:
    """Split at paragraph, then line, then sentence boundaries so each part fits."""
    if len(text) <= limit:
        return [text] if text else []
    chunks, current = [], ""
    for piece in re.split(r"(?<=\n)|(?<=。)", text):
        while len(piece) > limit:
            if current:
                chunks.append(current.strip())
                current = ""
            chunks.append(piece[:limit])
            piece = piece[limit:]
        if len(current) + len(piece) > limit:
            chunks.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return [c for c in chunks if c]


class WeChatOutput(OutputChannel):
    """Messages outside a reply (staff messages during a handoff): the customer-service API."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    def __init__(self, channel: WeChatInput) -> None:
        self.channel = channel

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.channel._deliver_later(recipient_id, split_text(text))


class WeChatInput(InputChannel):
    """WeChat Official Account channel (wechatpy for signatures, XML and AES)."""

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> WeChatInput:
        return cls()

    def __init__(self) -> None:
        config = settings_module.current()
        wechat = config.wechat
        self.token, self.app_id, self.app_secret = wechat.token, wechat.app_id, wechat.app_secret
        self.aes_key, self.api_base, self.reply_timeout = wechat.aes_key, wechat.api_base, wechat.reply_timeout
        self.database_url = config.database_url
        self._tasks: set[asyncio.Future[Any]] = set()
        if not self.token:
            logger.warning("WeChat channel is off: WECHAT_TOKEN is not set")
        elif self.aes_key and not self.app_id:
            logger.warning("WECHAT_AES_KEY is set without WECHAT_APP_ID: encrypted messages cannot be read")

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatOutput(self) if self.token and self.app_id else None

    # ---------- helpers
    def _crypto(self) -> WeChatCrypto | None:
        from wechatpy.crypto import WeChatCrypto

        return WeChatCrypto(self.token, self.aes_key, self.app_id) if self.aes_key else None

    def _client(self) -> WeChatClient:
        return wechat_api.client(
            self.app_id, self.app_secret, self.api_base, wechat_store.SqlSessionStorage(self.database_url)
        )

    def _signed(self, request: Request) -> bool:
        """Whether the query carries WeChat's signature over a timestamp within MAX_SKEW of now."""
        args = request.args
        timestamp, nonce = args.get("timestamp") or "", args.get("nonce") or ""
        if not TIMESTAMP.match(timestamp) or not NONCE.match(nonce):
            return False
        expected = hashlib.sha1("".join(sorted([self.token, timestamp, nonce])).encode()).hexdigest()
        if not hmac.compare_digest(expected.encode(), (args.get("signature") or "").encode()):
            return False
        return abs(time.time() - int(timestamp)) <= MAX_SKEW

    def _reply(self, request: Request, message: BaseMessage, text: Optional[str]) -> HTTPResponse:
        """A passive text reply (encrypted in safe mode), or ``success`` for none."""
        if not text:
            return response.text("success")
        from wechatpy.replies import TextReply

        xml = TextReply(content=text, message=message).render()
        crypto = self._crypto()
        if crypto and request.args.get("encrypt_type") == "aes":
            xml = crypto.encrypt_message(xml, request.args.get("nonce", ""), request.args.get("timestamp", ""))
        return response.text(xml, content_type="application/xml")

    def _parse(self, request: Request) -> BaseMessage:
        """Return the parsed message, or raise ValueError for a body that is not a WeChat message."""
        import defusedxml.ElementTree as safe_xml
        from wechatpy import parse_message

        body = request.body or b""
        if len(body) > MAX_BODY:
            raise ValueError(f"body of {len(body)} bytes is over {MAX_BODY}")
        crypto = self._crypto() if request.args.get("encrypt_type") == "aes" else None
        if request.args.get("encrypt_type") == "aes" and crypto is None:
            raise ValueError("encrypted message but WECHAT_AES_KEY is not set")
        try:
            safe_xml.fromstring(body)  # refuses DTDs and entities: no billion laughs
            if crypto is not None:
                body = crypto.decrypt_message(
                    body,
                    request.args.get("msg_signature", ""),
                    request.args.get("timestamp", ""),
                    request.args.get("nonce", ""),
                )
                safe_xml.fromstring(body)
            message = parse_message(body)
        except Exception as exc:  # malformed XML, bad ciphertext, wrong signature inside: say which kind only
            raise ValueError(f"unreadable body ({type(exc).__name__})") from None
        check_fields(message)
        return message

    def _text_for(self, message: BaseMessage) -> Optional[str]:
        """What the visitor said, as text for the assistant; None when nothing goes to Rasa."""
        kind = message.type
        if kind == "text":
            text = message.content or ""
            number = NUMBER.match(text)
            if number:
                payload = wechat_store.choice(self.database_url, message.source, int(number.group(1)))
                if payload:  # one of the options we offered: ours, so trusted
                    return payload
            return screen(text)
        if kind == "voice" and getattr(message, "recognition", None):
            return screen(message.recognition)
        if kind == "event":
            event = (message.event or "").lower()
            if event == "subscribe":
                return "/greet"
            if event == "click" and MENU_KEY.match(message.key or ""):
                # a menu key is a payload like a typed one: only intents the assistant offers pass
                payload = screen("/" + message.key)
                if payload.startswith("/"):
                    return payload
                logger.info("WeChat menu key that is not one of the assistant's intents ignored")
        return None

    # ---------- delivery
    async def _deliver_later(self, openid: str, parts: List[str]) -> None:
        """Send parts through the customer-service API, with retries and back-off."""
        loop = asyncio.get_running_loop()
        for part in parts:
            for attempt in range(4):
                try:
                    await loop.run_in_executor(None, partial(wechat_api.send_text, self._client(), openid, part))
                    break
                except wechat_api.Undeliverable as exc:
                    logger.warning("WeChat message to %s not deliverable: %s", mask(openid), exc)
                    return
                except Exception as exc:  # its text can hold the API URL (access token, app secret)
                    delay = 2**attempt
                    logger.warning("WeChat send to %s failed (%s); retry in %s s", mask(openid), failure(exc), delay)
                    await asyncio.sleep(delay)
            else:
                logger.error("WeChat message to %s dropped after retries", mask(openid))

    async def _finish_late(
        self, task: asyncio.Future[Any], collector: CollectingOutputChannel, key: str, openid: str
    ) -> None:
        try:
            await task
        except Exception:
            logger.exception("WeChat turn for %s failed", mask(openid))
            return
        text, payloads = render_messages(collector.messages)
        wechat_store.remember_choices(self.database_url, openid, payloads)
        wechat_store.finish(self.database_url, key, None)
        await self._deliver_later(openid, split_text(text))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("wechat_webhook", __name__)
        # payloads were screened in _text_for (numbered options are ours); size and rate per openid here
        on_new_message = Guard().wrap(on_new_message, screen_payloads=False)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.token else "off"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self._verify(request)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        return hook

    def _verify(self, request: Request) -> HTTPResponse:
        """WeChat's server check: echo ``echostr`` for a valid, fresh signature."""
        if not self.token:
            return response.text("WeChat channel is off", status=503)
        if not self._signed(request):
            return response.text("invalid signature", status=403)
        return response.text(request.args.get("echostr", ""))

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        """Answer one message from WeChat: passively, or ``success`` and later through the API."""
        if not self.token:
            return response.text("WeChat channel is off", status=503)
        if not self._signed(request):
            logger.warning("WeChat request with a bad or expired signature refused")
            return response.text("invalid signature", status=403)
        if self.aes_key and not (request.args.get("encrypt_type") == "aes" and request.args.get("msg_signature")):
            logger.warning("WeChat plaintext request refused: safe mode (WECHAT_AES_KEY) expects encrypted ones")
            return response.text("encrypted messages only", status=403)
        digest = hashlib.sha256(request.body or b"").hexdigest()
        if not wechat_store.admit(self.database_url, request.args.get("timestamp"), request.args.get("nonce"), digest):
            logger.warning("WeChat request refused: its timestamp and nonce came before with another body")
            return response.text("replayed request", status=403)
        try:
            message = self._parse(request)
        except ValueError as exc:
            logger.warning("WeChat request refused: %s", exc)
            return response.text("bad request", status=400)
        openid = message.source
        if message.type == "event" and (message.event or "").lower() == "unsubscribe":
            return response.text("success")
        text = self._text_for(message)
        if text is None:
            return self._reply(request, message, PLEASE_TYPE)

        # per follower: a MsgId from another OpenID is another message, never someone else's reply
        key = f"msg:{openid}:{message.id}" if message.id else f"event:{openid}:{int(message.create_time.timestamp())}"
        if not wechat_store.claim(self.database_url, key):
            # a retry: answer as the first delivery was (or will be) answered
            return self._reply(
                request, message, await wechat_store.wait_reply(self.database_url, key, self.reply_timeout)
            )

        collector = CollectingOutputChannel()
        user_message = UserMessage(
            text, collector, openid, input_channel=self.name(), metadata={"wechat_type": message.type}
        )
        task = asyncio.ensure_future(on_new_message(user_message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        started = time.monotonic()
        try:
            # shield: the timeout must not cancel the bot's work
            await asyncio.wait_for(asyncio.shield(task), self.reply_timeout)
        except asyncio.TimeoutError:
            logger.info("WeChat turn for %s slower than %.1f s: replying later", mask(openid), self.reply_timeout)
            wechat_store.finish(self.database_url, key, None)
            later = asyncio.ensure_future(self._finish_late(task, collector, key, openid))
            self._tasks.add(later)
            later.add_done_callback(self._tasks.discard)
            return response.text("success")
        except Exception:
            logger.exception("WeChat turn for %s failed", mask(openid))
            wechat_store.finish(self.database_url, key, None)
            return response.text("success")
        text, payloads = render_messages(collector.messages)
        wechat_store.remember_choices(self.database_url, openid, payloads)
        parts = split_text(text)
        first = parts[0] if parts else None
        wechat_store.finish(self.database_url, key, first or "")
        if len(parts) > 1:
            later = asyncio.ensure_future(self._deliver_later(openid, parts[1:]))
            self._tasks.add(later)
            later.add_done_callback(self._tasks.discard)
        logger.debug("WeChat passive reply in %.2f s", time.monotonic() - started)
        return self._reply(request, message, first)
