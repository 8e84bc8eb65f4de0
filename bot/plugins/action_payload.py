"""What Rasa sends the action server: the tracker's recent events in full, older ones cut to what actions read.

Rasa 3.6 serialises every event of the conversation's session into each call
of a custom action (``RemoteAction._action_call_format``): a long conversation
sends hundreds of kilobytes per action, the cost of a turn grows with the
conversation (issue #24), and past ``ACTION_MAX_BODY`` (1 MiB) the action
server refuses the call and the visitor gets no answer at all.

The project's actions (actions/) read of the events:
- the entities and intent of every visitor message of the session
  (``answer.earlier_entities``, ``leads.asked_topics``);
- the events since the visitor's previous message (``clarify.failed_just_before``,
  rasa_sdk's ``slots_to_validate`` and ``get_latest_input_channel``).

So the events from the visitor's ``FULL_MESSAGES``-th latest message on are sent
as Rasa sends them; before that only session starts, restarts and the visitor's
messages, each with its text, intent name and entities. Slots, the latest
message, the active loop and the rest of the tracker state are sent as before.
An action that starts reading something else of older events must be added
here (tests/bot/plugins/test_action_payload.py checks what the actions see).

The older part only grows during a conversation: it is kept per conversation
(``KEPT_CONVERSATIONS`` of them) and extended with the events that left the full
part since the last call. The domain, which Rasa rebuilds as a dict and encodes
as JSON for every call (most of the request), is built and encoded once. Rasa
opens a new HTTP session, and connection, for every call; here one session is
kept per endpoint, its idle connections closed after ``KEEP_ALIVE_SECONDS``,
before the action server (Sanic: 5 s) would close them under a request.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text, Tuple

FULL_MESSAGES = 3  # the current message and two before it, with everything that happened in between
KEPT_CONVERSATIONS = 256
_DOMAIN_DICT = "_callcentre_as_dict"
_SESSION = "_callcentre_session"
KEEP_ALIVE_SECONDS = 2
_DOMAIN_JSON: Dict[int, Tuple[Any, str]] = {}  # id(domain dict) -> (that dict, its JSON)


@dataclass
class _Older:
    first: Any  # the conversation's first event and the last one trimmed: the events are those still
    last: Any
    count: int  # events trimmed
    trimmed: list
    encoded: list  # each of ``trimmed`` as JSON


class Events(list):
    """The events sent to the action server; the JSON of the first ``older`` of them is ``older_json``."""

    older: int = 0
    older_json: str = ""


_OLDER: OrderedDict[str, _Older] = OrderedDict()


def slim_user(event: Any) -> Dict[Text, Any]:
    """A visitor message (``UserUttered``) as far as the actions read it: text, intent name, entities."""
    return {
        "event": "user",
        "timestamp": event.timestamp,
        "text": event.text,
        "input_channel": event.input_channel,
        "parse_data": {"intent": {"name": event.intent_name}, "entities": event.entities or []},
    }


def _trim(events: List[Any]) -> list:
    """Rasa's dicts of the session starts, restarts and visitor messages (trimmed) among ``events``."""
    from rasa.shared.core.events import Restarted, SessionStarted, UserUttered

    trimmed: list = []
    for event in events:
        if isinstance(event, UserUttered):
            trimmed.append(slim_user(event))
        elif isinstance(event, (SessionStarted, Restarted)):
            trimmed.append(event.as_dict())
    return trimmed


def action_events(events: List[Any], sender_id: Optional[str] = None) -> List[Dict[Text, Any]]:
    """The events to send for ``events`` (Rasa ``Event`` objects, oldest first) of conversation ``sender_id``."""
    from rasa.shared.core.events import UserUttered

    users = 0
    start = 0
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            users += 1
            if users == FULL_MESSAGES:
                start = index
                break
    kept = _OLDER.pop(sender_id, None) if sender_id is not None else None
    if kept is not None and kept.count <= start and kept.count and events[0] is kept.first:
        # a conversation's events only grow: the same first and last trimmed events mean the same events between
        if events[kept.count - 1] is kept.last:
            added = _trim(events[kept.count : start])
            kept.trimmed.extend(added)
            kept.encoded.extend(json.dumps(item) for item in added)
        else:
            kept = None
    else:
        kept = None
    if kept is None:
        trimmed = _trim(events[:start])
        kept = _Older(None, None, 0, trimmed, [json.dumps(item) for item in trimmed])
    if start and sender_id is not None:
        kept.first, kept.last, kept.count = events[0], events[start - 1], start
        _OLDER[sender_id] = kept
        while len(_OLDER) > KEPT_CONVERSATIONS:
            _OLDER.popitem(last=False)
    sent = Events(kept.trimmed + [event.as_dict() for event in events[start:]])
    sent.older, sent.older_json = len(kept.trimmed), ", ".join(kept.encoded)
    return sent


def domain_dict(domain: Any) -> Dict[Text, Any]:
    """``domain.as_dict()``, built and encoded once per domain object (the loaded model's domain does not change)."""
    built = domain.__dict__.get(_DOMAIN_DICT)
    if built is None:
        built = domain.__dict__[_DOMAIN_DICT] = domain.as_dict()
        _DOMAIN_JSON[id(built)] = (built, json.dumps(built))
    return built


def _with(value: Dict[Text, Any], encoded: Dict[Text, str]) -> str:
    """The JSON of ``value`` whose items named in ``encoded`` are written as the JSON given there."""
    rest = json.dumps({key: item for key, item in value.items() if key not in encoded})
    pairs = ", ".join(f"{json.dumps(key)}: {text}" for key, text in encoded.items())
    return f"{rest[:-1]}, {pairs}}}" if rest != "{}" else f"{{{pairs}}}"


def _events_json(events: Events) -> str:
    recent = json.dumps(events[events.older :])[1:-1]
    return "[" + ", ".join(part for part in (events.older_json, recent) if part) + "]"


def dumps(value: Any) -> str:
    """``json.dumps``, writing a domain built by :func:`domain_dict` and the older events of
    :func:`action_events` from JSON encoded once."""
    if not isinstance(value, dict):
        return json.dumps(value)
    encoded: Dict[Text, str] = {}
    tracker = value.get("tracker")
    if isinstance(tracker, dict) and isinstance(tracker.get("events"), Events):
        encoded["tracker"] = _with(tracker, {"events": _events_json(tracker["events"])})
    domain = value.get("domain")
    known = _DOMAIN_JSON.get(id(domain)) if domain is not None else None
    if known is not None and known[0] is domain:
        encoded["domain"] = known[1]
    return _with(value, encoded) if encoded else json.dumps(value)


@dataclass
class Kept:
    """An aiohttp session that ``async with`` hands out without closing it: one per endpoint and event loop."""

    session: Any
    loop: Any

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


def install() -> None:
    """Make ``RemoteAction`` send the trimmed events and the prebuilt domain (idempotent)."""
    import aiohttp
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity
    from rasa.utils.endpoints import EndpointConfig

    if getattr(RemoteAction._action_call_format, "trimmed_events", False):
        return
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

    def session(self: Any) -> Kept:
        """Rasa's ``EndpointConfig.session`` (new per request), kept open per endpoint and event loop, encoding
        JSON bodies with :func:`dumps`."""
        loop = asyncio.get_running_loop()
        kept = self.__dict__.get(_SESSION)
        if kept is None or kept.loop is not loop or kept.session.closed:
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
            )
            made = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                json_serialize=dumps,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS),
            )
            kept = self.__dict__[_SESSION] = Kept(made, loop)
        return kept

    def _action_call_format(self: Any, tracker: Any, domain: Any) -> Dict[Text, Any]:
        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = action_events(list(tracker.events), tracker.sender_id)
        result = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "version": rasa.__version__,
        }
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
            result["domain"] = domain_dict(domain)
        return result

    _action_call_format.trimmed_events = True  # type: ignore[attr-defined]
    RemoteAction._action_call_format = _action_call_format
    EndpointConfig.session = session
