"""When the assistant is not sure: offer the closest questions, then a consultant."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from bot import db, settings
from bot.store import facts

NOT_ANSWERS = {"nlu_fallback", "ask_followup"}
MAX_CHOICES = 3
MIN_CANDIDATE_CONFIDENCE = 0.02


def candidate_intents(tracker: Tracker) -> List[str]:
    """Return the ranked intents that could be meant, best first."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    return [r["name"] for r in ranking
            if r.get("name") not in NOT_ANSWERS and (r.get("confidence") or 0) >= MIN_CANDIDATE_CONFIDENCE]


CLARIFYING = {"utter_clarify", "utter_default"}


def failed_just_before(tracker: Tracker) -> bool:
    """Whether the bot's previous turn already said it was unsure."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "bot":
            if (event.get("metadata") or {}).get("utter_action") in CLARIFYING:
                return True
    return False


def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Offer up to three likely questions as buttons, or a consultant after repeated failure."""
    if failed_just_before(tracker):
        dispatcher.utter_message(response="utter_clarify_consultant")
        return
    candidates = candidate_intents(tracker)
    if candidates and candidates[0] == "out_of_scope":
        dispatcher.utter_message(response="utter_out_of_scope")
        return
    config = settings.current()
    buttons = []
    try:
        with db.session_scope(config.database_url) as session:
            for intent in candidates:
                fact = facts.fact_for_intent(intent, session=session)
                if fact is not None and fact.question:
                    buttons.append({"title": fact.question, "payload": f"/{intent}"})
                if len(buttons) == MAX_CHOICES:
                    break
    except SQLAlchemyError:
        dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
        return
    if buttons:
        dispatcher.utter_message(response="utter_clarify", buttons=buttons)
    else:
        dispatcher.utter_message(response="utter_default")


class ActionClarify(Action):
    """Ask what the visitor meant, with the closest questions as buttons."""

    def name(self) -> Text:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        clarify(dispatcher, tracker)
        return []
