"""Running a custom action as the action server would: a tracker from a parse, and a CollectingDispatcher."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def tracker_for(
    intent: str,
    text: str = "",
    entities: dict | None = None,
    confidence: float = 0.99,
    ranking: list | None = None,
    slots: dict | None = None,
    events: list | None = None,
) -> Tracker:
    ranking = ranking if ranking is not None else [{"name": intent, "confidence": confidence}]
    return Tracker(
        sender_id="visitor",
        slots=slots or {},
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking,
            "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
        },
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action, intent: str, **tracker_args):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker_for(intent, **tracker_args), {})
    return dispatcher.messages, events
