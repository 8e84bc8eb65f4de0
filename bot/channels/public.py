"""Rasa's REST and socket.io channels as visitors reach them: behind the guard.

Same names, paths and configuration as Rasa's own ``rest`` and ``socketio``
channels (credentials.yml names these classes instead); what they add:
- every message passes ``bot.channels.guard`` (payload injection, size, rate
  per conversation);
- requests are limited per IP address (``RATE_LIMIT_PER_IP`` a minute);
- malformed bodies get a clear 400 (REST) or a polite bot message (socket.io)
  instead of an exception inside Rasa;
- a REST caller holding the Rasa token (``Authorization: Bearer`` or
  ``?token=``) is trusted: its payloads pass and it is not rate-limited
  (integrations, benchmarks, tests);
- with ``REDIS_URL`` the socket.io server shares rooms through Redis, so a
  message for a visitor reaches them whichever Rasa instance produced it.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels import rest, socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot import settings as settings_module
from bot.channels.guard import BAD_REQUEST, TOO_FAST, TRUST, TRUSTED, Guard

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_SENDER = 128


def client_ip(request: Request) -> str:
    """The caller's address; behind proxies Sanic reads it from the forwarded headers (SANIC_PROXIES_COUNT)."""
    return request.remote_addr or request.ip or "unknown"


def holds_token(request: Request) -> bool:
    """Whether the request carries the Rasa HTTP API token."""
    token = os.environ.get("RASA_AUTH_TOKEN", "")
    if not token:
        return False
    offered = request.args.get("token") or ""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        offered = header[7:].strip()
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def _body_problem(request: Request) -> Optional[str]:
    """Say what is wrong with a REST webhook body, or None when it is usable."""
    if len(request.body or b"") > MAX_BODY:
        return f"request body over {MAX_BODY // 1024} KB"
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "body must be JSON encoded in UTF-8: {\"sender\": \"…\", \"message\": \"…\"}"
    if not isinstance(body, dict):
        return "body must be a JSON object: {\"sender\": \"…\", \"message\": \"…\"}"
    sender = body.get("sender")
    if sender is not None and (isinstance(sender, bool) or not isinstance(sender, (str, int))
                               or not 0 < len(str(sender)) <= MAX_SENDER):
        return f"sender must be a string of 1 to {MAX_SENDER} characters"
    if not isinstance(body.get("message"), str):
        return "message must be a string"
    if "metadata" in body and not isinstance(body["metadata"], (dict, type(None))):
        return "metadata must be an object"
    return None


class RestInput(rest.RestInput):
    """Rasa's REST channel (``/webhooks/rest/webhook``) behind the guard."""

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return {TRUSTED: TRUST} if holds_token(request) else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        guard = Guard()
        hook = super().blueprint(guard.wrap(on_new_message))

        @hook.middleware("request")
        async def check(request: Request):
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            problem = _body_problem(request)
            if problem:
                return response.json({"error": problem}, status=413 if "KB" in problem else 400)
            if not holds_token(request) and not guard.per_ip.allow(client_ip(request)):
                logger.warning("rate limit: REST caller %s over %d requests a minute",
                               client_ip(request), guard.per_ip.limit)
                return response.json([{"recipient_id": str(request.json.get("sender") or ""), "text": TOO_FAST}],
                                     status=429)
            return None

        return hook


class SocketIOInput(socketio.SocketIOInput):
    """Rasa's socket.io channel (the widget) behind the guard."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        guard = Guard()
        hook = super().blueprint(guard.wrap(on_new_message))
        sio = self.sio
        redis_url = settings_module.load().redis_url
        if redis_url:
            from socketio import AsyncRedisManager

            sio.manager = AsyncRedisManager(redis_url)
            sio.manager.set_server(sio)
        namespace = self.namespace or "/"
        handle_message = sio.handlers[namespace][self.user_message_evt]

        async def checked(sid: Text, data: Any = None, *_: Any) -> None:
            async def tell(text: str) -> None:
                await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=namespace)

            session_id = data.get("session_id") if isinstance(data, dict) else None
            if (not isinstance(data, dict) or not isinstance(session_id, (str, type(None)))
                    or len(session_id or "") > MAX_SENDER or (self.session_persistence and not session_id)):
                await tell(BAD_REQUEST)
                return
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = None
            data = {**data, self.metadata_key: metadata if isinstance(metadata, dict) else {}}
            request = (sio.get_environ(sid, namespace) or {}).get("sanic.request")
            if request is not None and not guard.per_ip.allow(client_ip(request)):
                logger.warning("rate limit: socket.io client %s over %d messages a minute",
                               client_ip(request), guard.per_ip.limit)
                await tell(TOO_FAST)
                return
            await handle_message(sid, data)

        sio.handlers[namespace][self.user_message_evt] = checked
        return hook
