"""Calls to Rasa's HTTP API (always with the token) used by the web app and the worker."""
from __future__ import annotations

from typing import Optional

import requests

from bot import settings as settings_module

TIMEOUT = 10
# resume a paused conversation; the listen event lets rules match the next (external) intent
RESUME = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]


class RasaUnavailable(RuntimeError):
    """Rasa's HTTP API could not be reached or refused the call."""


def _call(method: str, path: str, config: settings_module.Settings, **kwargs) -> dict:
    params = {"token": config.rasa_auth_token, **kwargs.pop("params", {})}
    try:
        response = requests.request(method, f"{config.rasa_url}{path}", params=params, timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise RasaUnavailable(str(exc)) from exc
    return response.json() if response.content else {}


def tracker(conversation_id: str, config: settings_module.Settings) -> dict:
    return _call("GET", f"/conversations/{conversation_id}/tracker", config, params={"include_events": "ALL"})


def append_events(conversation_id: str, events: list, config: settings_module.Settings,
                  output_channel: Optional[str] = None) -> dict:
    """Add events; bot messages among them are sent through ``output_channel`` (socketio, wechat …)."""
    params = {"output_channel": output_channel, "execute_side_effects": "true"} if output_channel else {}
    return _call("POST", f"/conversations/{conversation_id}/tracker/events", config, json=events,
                 params=params)


def trigger_intent(conversation_id: str, intent: str, config: settings_module.Settings,
                   output_channel: Optional[str] = None) -> dict:
    params = {"output_channel": output_channel} if output_channel else {}
    return _call("POST", f"/conversations/{conversation_id}/trigger_intent", config, json={"name": intent},
                 params=params)
