"""When the assistant is not sure: offer the closest questions, then a consultant.

What to say is decided in actions/decide.py; this module says 「您是想问……」 with buttons (the facts'
own questions) and knows whether the previous reply already did.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from bot.store import facts

CLARIFYING = {"utter_clarify", "utter_default"}


def failed_just_before(tracker: Tracker) -> bool:
    """Whether the bot's previous turn already said it was unsure."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif (
            seen_user
            and event.get("event") == "bot"
            and (event.get("metadata") or {}).get("utter_action") in CLARIFYING
        ):
            return True
    return False


def offer_choices(dispatcher: CollectingDispatcher, intents: tuple, session: Session) -> None:
    """Offer the facts' own questions for ``intents`` as buttons, or say plainly that it was not understood."""
    buttons: List[Dict[str, Any]] = []
    for intent in intents:
        fact = facts.fact_for_intent(intent, session=session)
        if fact is not None and fact.question:
            buttons.append({"title": fact.question, "payload": f"/{intent}"})
    if buttons:
        dispatcher.utter_message(response="utter_clarify", buttons=buttons)
    else:
        dispatcher.utter_message(response="utter_default")
