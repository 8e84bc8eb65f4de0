"""Calls to Rasa's HTTP API (always with the token) used by the web app and the worker.

Rasa 3.6 accepts its static token only as ``?token=`` (``rasa.server.requires_auth``),
so the token is in every URL this module builds. That URL therefore never leaves
this module: errors describe the call by method, route and status only.

Rasa reads a conversation id from the raw request path without decoding it, so
an id can only be addressed if it travels byte for byte: ids with ``%``, ``/``,
``?``, ``#``, spaces, control or non-ASCII characters (or only dots) would reach
another conversation, or another route, and are refused before any request.
"""

from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import quote

import requests

from bot import settings as settings_module

TIMEOUT = 10
MAX_CONVERSATION_ID = 255  # conversation_summaries.conversation_id
# RFC 3986 path characters without "%" and "/": sent as they are by requests, read as they are by Rasa
PATH_SAFE = "!$&'()*+,;=:@~"
# resume a paused conversation; the listen event lets rules match the next (external) intent
RESUME = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]


class RasaUnavailable(RuntimeError):
    """Rasa's HTTP API could not be reached or refused the call (the message is safe to show and log)."""


class InvalidConversationId(RasaUnavailable):
    """The id cannot be put in a Rasa API URL without changing which conversation it names."""


def addressable(conversation_id: Any) -> bool:
    """Whether Rasa's HTTP API would read ``conversation_id`` back exactly as it is."""
    return (
        isinstance(conversation_id, str)
        and 0 < len(conversation_id) <= MAX_CONVERSATION_ID
        and quote(conversation_id, safe=PATH_SAFE) == conversation_id
        and re.fullmatch(r"\.+", conversation_id) is None
    )


def _conversation_path(conversation_id: Any, route: str) -> str:
    if not addressable(conversation_id):
        raise InvalidConversationId("this conversation id cannot be addressed through the assistant's API")
    return f"/conversations/{quote(conversation_id, safe=PATH_SAFE)}/{route}"


def _call(method: str, path: str, route: str, config: settings_module.Settings, **kwargs: Any) -> dict[str, Any]:
    """Call Rasa; ``route`` names the call in errors (the path holds the id, the URL the token)."""
    params = {"token": config.rasa_auth_token, **kwargs.pop("params", {})}
    failure = None
    try:
        response = requests.request(method, f"{config.rasa_url}{path}", params=params, timeout=TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        # requests' message quotes the URL, token included: keep only the kind of failure, and raise
        # outside this block so the original is not even chained as the new error's context
        failure = type(exc).__name__
    if failure:
        raise RasaUnavailable(f"could not reach the assistant for {method} {route} ({failure})")
    if not response.ok:
        raise RasaUnavailable(f"the assistant answered {response.status_code} to {method} {route}")
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise RasaUnavailable(f"the assistant's answer to {method} {route} was not JSON") from None


def tracker(conversation_id: str, config: settings_module.Settings) -> dict[str, Any]:
    return _call(
        "GET",
        _conversation_path(conversation_id, "tracker"),
        "/conversations/<id>/tracker",
        config,
        params={"include_events": "ALL"},
    )


def append_events(
    conversation_id: str,
    events: list[dict[str, Any]],
    config: settings_module.Settings,
    output_channel: Optional[str] = None,
) -> dict[str, Any]:
    """Add events; bot messages among them are sent through ``output_channel`` (socketio, wechat …)."""
    params = {"output_channel": output_channel, "execute_side_effects": "true"} if output_channel else {}
    return _call(
        "POST",
        _conversation_path(conversation_id, "tracker/events"),
        "/conversations/<id>/tracker/events",
        config,
        json=events,
        params=params,
    )


def trigger_intent(
    conversation_id: str, intent: str, config: settings_module.Settings, output_channel: Optional[str] = None
) -> dict[str, Any]:
    params = {"output_channel": output_channel} if output_channel else {}
    return _call(
        "POST",
        _conversation_path(conversation_id, "trigger_intent"),
        "/conversations/<id>/trigger_intent",
        config,
        json={"name": intent},
        params=params,
    )
