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

The domain, which Rasa rebuilds as a dict for every call, is built once per domain.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

FULL_MESSAGES = 3  # the current message and two before it, with everything that happened in between
KEPT_KINDS = ("session_started", "restart")
_DOMAIN_DICT = "_callcentre_as_dict"


def slim_user(event: Any) -> Dict[Text, Any]:
    """A visitor message (``UserUttered``) as far as the actions read it: text, intent name, entities."""
    return {
        "event": "user",
        "timestamp": event.timestamp,
        "text": event.text,
        "input_channel": event.input_channel,
        "parse_data": {"intent": {"name": event.intent_name}, "entities": event.entities or []},
    }


def action_events(events: List[Any]) -> List[Dict[Text, Any]]:
    """The events to send for ``events`` (Rasa ``Event`` objects, oldest first)."""
    from rasa.shared.core.events import Restarted, SessionStarted, UserUttered

    users = 0
    start = 0
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            users += 1
            if users == FULL_MESSAGES:
                start = index
                break
    older: List[Dict[Text, Any]] = []
    for event in events[:start]:
        if isinstance(event, UserUttered):
            older.append(slim_user(event))
        elif isinstance(event, (SessionStarted, Restarted)):
            older.append(event.as_dict())
    return older + [event.as_dict() for event in events[start:]]


def domain_dict(domain: Any) -> Dict[Text, Any]:
    """``domain.as_dict()``, built once per domain object (the loaded model's domain does not change)."""
    built = domain.__dict__.get(_DOMAIN_DICT)
    if built is None:
        built = domain.__dict__[_DOMAIN_DICT] = domain.as_dict()
    return built


def install() -> None:
    """Make ``RemoteAction`` send the trimmed events and the prebuilt domain (idempotent)."""
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    if getattr(RemoteAction._action_call_format, "trimmed_events", False):
        return

    def _action_call_format(self: Any, tracker: Any, domain: Any) -> Dict[Text, Any]:
        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = action_events(list(tracker.events))
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
