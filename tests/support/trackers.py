"""Rasa trackers for the tests: the events of a turn, and the events a tracker store wrote."""

from __future__ import annotations

import json
from typing import Optional

import sqlalchemy as sa
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered


def turn(
    text: str, slot: Optional[tuple] = None, intent: str = "ask_fees", entities: Optional[list] = None
) -> list[Event]:
    """What Rasa's processor adds for one visitor message: the message, an action, its reply, listening."""
    events: list[Event] = [
        UserUttered(text, {"name": intent, "confidence": 0.9}, entities or []),
        ActionExecuted("action_answer_fact"),
        BotUttered("好的", metadata={"utter_action": "utter_fact"}),
    ]
    if slot:
        events.append(SlotSet(*slot))
    events.append(ActionExecuted("action_listen"))
    return events


def stored_events(url: str, sender: str) -> list[dict]:
    """The events a SQL tracker store holds for ``sender``, oldest first."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :sender ORDER BY id"), {"sender": sender}
            )
            return [json.loads(data) for (data,) in rows]
    finally:
        engine.dispose()
