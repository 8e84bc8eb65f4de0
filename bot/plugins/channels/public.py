"""Rasa's REST and socket.io channels as visitors reach them: behind the guard.

Same names, paths and configuration as Rasa's own ``rest`` and ``socketio``
channels (credentials.yml names these classes instead); what they add:
- every message passes ``bot.plugins.channels.guard`` (payload injection, size, rate
  per conversation);
- requests are limited per IP address (``RATE_LIMIT_PER_IP`` a minute);
- malformed bodies get a clear 400 (REST) or a polite bot message (socket.io)
  instead of an exception inside Rasa;
- a REST caller holding the Rasa token (``Authorization: Bearer`` or
  ``?token=``) is trusted: its payloads pass and it is not rate-limited
  (integrations, benchmarks, tests);
- REST takes JSON only (``Content-Type: application/json``: a text/plain
  body is a CORS "simple request" any web page can send blind), needs a
  ``sender``, and records the channel as ``rest`` whatever the body says;
- a widget conversation opens only with its signed token
  (bot.widget_session.py): socket.io ``session_request`` carries it,
  ``user_uttered`` is accepted only for the session its socket holds (one
  per socket), and a REST sender shaped like a widget id needs it in the
  ``X-Widget-Token`` header (or the Rasa token);
- socket.io accepts browsers only from CORS_ORIGINS (and Rasa's own public
  address), messages of a few KB, and ``session_request`` within the per-IP
  limit;
- with ``REDIS_URL`` the socket.io server shares rooms through Redis, so a
  message for a visitor reaches them whichever Rasa instance produced it;
  messages go through Redis as JSON (python-socketio 5.9 would unpickle
  them: CVE-2025-61765).
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from functools import lru_cache
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Optional, Text
from urllib.parse import urlsplit

from rasa.core.channels import rest, socketio
from rasa.core.channels.channel import UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager

from bot import settings as settings_module
from bot import widget_session
from bot.plugins.channels.guard import BAD_REQUEST, TOO_FAST, TRUST, TRUSTED, Guard
from bot.rasa_api import addressable
from bot.store.handoffs import CLIENT, client_key

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_SENDER = 128
SENDER_PUNCTUATION = "-._~!$&'()*+,;=:@ (not only dots)"
MAX_FRAME = 8 * 1024  # bytes in one socket.io message; 8 per allowed character when MAX_MESSAGE_CHARS is larger
SESSION_REFUSED = "抱歉，无法确认这个对话属于您，请刷新页面后重新开始。"
WIDGET_TOKEN_NEEDED = (
    f"this sender is a website visitor's conversation: send its token in the {widget_session.HEADER} header"
)


@lru_cache(maxsize=1)
def _widget_secret() -> str:
    # read when the first widget session is checked: by then the web app has issued it
    return widget_session.secret(settings_module.current())


def client_ip(request: Request) -> str:
    """The caller's address; behind proxies Sanic reads it from the forwarded headers (SANIC_PROXIES_COUNT)."""
    return request.remote_addr or request.ip or "unknown"


def keyed_address(request: Request) -> str:
    """A key of the caller's address for the actions (handoff places per address), never the address itself."""
    config = settings_module.current()
    return client_key(client_ip(request), config.rasa_auth_token or config.widget_secret or "callcentre")


def holds_token(request: Request) -> bool:
    """Whether the request carries the Rasa HTTP API token."""
    token = settings_module.current().rasa_auth_token
    if not token:
        return False
    offered = request.args.get("token") or ""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        offered = header[7:].strip()
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def _body_problem(request: Request) -> Optional[tuple[int, str]]:
    """Say what is wrong with a REST webhook request (status, message), or None when it is usable."""
    if len(request.body or b"") > MAX_BODY:
        return 413, f"request body over {MAX_BODY // 1024} KB"
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
        return 415, "Content-Type must be application/json"
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 400, 'body must be JSON encoded in UTF-8: {"sender": "…", "message": "…"}'
    if not isinstance(body, dict):
        return 400, 'body must be a JSON object: {"sender": "…", "message": "…"}'
    sender = body.get("sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)) or not 0 < len(str(sender)) <= MAX_SENDER:
        return 400, f"sender is required: a string of 1 to {MAX_SENDER} characters naming the conversation"
    # staff reach a conversation through Rasa's API by its id: one it cannot address could be handed off
    # but never answered, ended or expired (S2), so it is no conversation id at all
    if not addressable(str(sender)):
        return 400, f"sender may hold only letters, digits and {SENDER_PUNCTUATION}"
    if not isinstance(body.get("message"), str):
        return 400, "message must be a string"
    if "metadata" in body and not isinstance(body["metadata"], (dict, type(None))):
        return 400, "metadata must be an object"
    return None


class RestInput(rest.RestInput):
    """Rasa's REST channel (``/webhooks/rest/webhook``) behind the guard."""

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        # what the body says is never read; a trusted caller (an integration) speaks for many visitors
        return {TRUSTED: TRUST} if holds_token(request) else {CLIENT: keyed_address(request)}

    def _extract_input_channel(self, request: Request) -> Text:
        return self.name()  # the channel is where the message came in, not what the body claims

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        guard = Guard()
        hook = super().blueprint(guard.wrap(on_new_message))

        @hook.middleware("request")
        async def check(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            problem = _body_problem(request)
            if problem:
                return response.json({"error": problem[1]}, status=problem[0])
            sender = str(request.json["sender"])
            if (
                widget_session.SESSION_ID.match(sender)
                and not holds_token(request)
                and not widget_session.valid(_widget_secret(), sender, request.headers.get(widget_session.HEADER))
            ):
                logger.warning("REST message for widget conversation %s… without its token", sender[:6])
                return response.json({"error": WIDGET_TOKEN_NEEDED}, status=403)
            if not holds_token(request) and not guard.per_ip.allow(client_ip(request)):
                logger.warning(
                    "rate limit: REST caller %s over %d requests a minute", client_ip(request), guard.per_ip.limit
                )
                return response.json(
                    [{"recipient_id": str(request.json.get("sender") or ""), "text": TOO_FAST}], status=429
                )
            return None

        return hook


class JsonRedisManager(AsyncRedisManager):
    """socket.io's Redis manager, speaking JSON on the channel instead of pickle.

    python-socketio 5.9 unpickles whatever it reads from Redis (CVE-2025-61765,
    fixed in 5.14 by the same change). Rasa 3.6's channel is written against
    5.9 (``enter_room`` without ``await``), so the pin stays and the channel
    speaks JSON here; anything else published there is dropped.
    """

    name = "jsonredis"

    async def _publish(self, data: Any) -> Any:
        message = json.dumps(data)
        for attempt in (1, 2):  # as the parent: one reconnect, then give up
            try:
                if attempt == 2:
                    self._redis_connect()
                return await self.redis.publish(self.channel, message)
            except RedisError as exc:
                logger.error(
                    "could not publish to Redis (%s)%s",
                    type(exc).__name__,
                    "; retrying" if attempt == 1 else "; giving up",
                )
        return None

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        async for message in super()._listen():
            try:
                data = json.loads(message)
            except (ValueError, TypeError, RecursionError):  # UnicodeDecodeError is a ValueError
                logger.warning("dropped a message on the socket.io Redis channel: not JSON")
                continue
            if isinstance(data, dict):
                yield data


async def _done(result: Any) -> None:
    """Await ``result`` if it is awaitable: python-socketio 5.10+ made room calls coroutines."""
    if inspect.isawaitable(result):
        await result


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SocketIOInput(socketio.SocketIOInput):
    """Rasa's socket.io channel (the widget) behind the guard."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        config = settings_module.current()
        guard = Guard(config)
        hook = super().blueprint(guard.wrap(on_new_message))
        sio = self.sio
        # browsers from other sites are refused at the handshake (Rasa's own setting [] turns the check off)
        sio.eio.cors_allowed_origins = sorted({*config.cors_origins, _origin(config.rasa_public_url)})
        # ... but Rasa's own CORS layer (``--cors``, the same CORS_ORIGINS) already answers these paths: two
        # Access-Control-Allow-Origin headers make browsers refuse the response, so engineio adds none
        sio.eio._cors_headers = lambda environ: []
        sio.eio.max_http_buffer_size = max(MAX_FRAME, 8 * config.max_message_chars)
        if config.redis_url:
            sio.manager = JsonRedisManager(config.redis_url)
            sio.manager.set_server(sio)
        namespace = self.namespace or "/"
        handle_message = sio.handlers[namespace][self.user_message_evt]

        async def tell(sid: Text, text: str) -> None:
            await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=namespace)

        def client(sid: Text) -> dict[str, str]:
            request = (sio.get_environ(sid, namespace) or {}).get("sanic.request")
            return {CLIENT: keyed_address(request)} if request is not None else {}

        def within_rate(sid: Text) -> bool:
            request = (sio.get_environ(sid, namespace) or {}).get("sanic.request")
            if request is not None and not guard.per_ip.allow(client_ip(request)):
                logger.warning(
                    "rate limit: socket.io client %s over %d events a minute", client_ip(request), guard.per_ip.limit
                )
                return False
            return True

        def held(sid: Text) -> Optional[str]:
            """The session this socket holds: its one room besides its own."""
            return next((room for room in sio.rooms(sid, namespace) if room != sid), None)

        async def session_request(sid: Text, data: Any = None, *_: Any) -> None:
            if not within_rate(sid):
                await tell(sid, TOO_FAST)
                return
            session_id = data.get("session_id") if isinstance(data, dict) else None
            token = data.get("token") if isinstance(data, dict) else None
            if not widget_session.valid(_widget_secret(), session_id, token):
                logger.warning("socket.io session refused: no valid token for %.6s…", str(session_id))
                await tell(sid, SESSION_REFUSED)
                return
            previous = held(sid)
            if previous != session_id:
                if previous is not None:  # one session per socket: rooms live until the socket leaves
                    await _done(sio.leave_room(sid, previous, namespace=namespace))
                await _done(sio.enter_room(sid, session_id, namespace=namespace))
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        async def checked(sid: Text, data: Any = None, *_: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if (
                not isinstance(data, dict)
                or not isinstance(session_id, (str, type(None)))
                or len(session_id or "") > MAX_SENDER
                or (self.session_persistence and not session_id)
            ):
                await tell(sid, BAD_REQUEST)
                return
            if self.session_persistence and session_id != held(sid):
                logger.warning("socket.io message for a session its socket does not hold: %.6s…", session_id)
                await tell(sid, SESSION_REFUSED)
                return
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = None
            # the address key comes from the socket, whatever the client sent under that name
            data = {**data, self.metadata_key: {**(metadata if isinstance(metadata, dict) else {}), **client(sid)}}
            if not within_rate(sid):
                await tell(sid, TOO_FAST)
                return
            await handle_message(sid, data)

        sio.handlers[namespace]["session_request"] = session_request
        sio.handlers[namespace][self.user_message_evt] = checked
        return hook
