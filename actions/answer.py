"""Answer licence questions from the facts database."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from bot import facts, settings

logger = logging.getLogger(__name__)


class ActionAnswerFact(Action):
    """Reply with the fact that answers the visitor's intent, its source and corrections."""

    def name(self) -> Text:
        return "action_answer_fact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        config = settings.load()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        try:
            with facts.session_scope(config.database_url) as session:
                fact = facts.fact_for_intent(intent, session=session) if intent else None
                if fact is None:
                    logger.warning("no fact answers intent %r", intent)
                    dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
                    return []
                dispatcher.utter_message(response="utter_fact", answer=fact.answer, source=fact.source_text)
                for corr in fact.corrections:
                    dispatcher.utter_message(response="utter_fact_correction", claim=corr.claim,
                                             current=corr.current, since=corr.since or "")
                if fact.unconfirmed:
                    dispatcher.utter_message(response="utter_fact_unconfirmed",
                                             note=facts.CONFIDENCE_LEVELS[fact.confidence])
                # the slot records which fact answered, for staff review and follow-ups
                return [SlotSet("fact_key", fact.key)]
        except SQLAlchemyError:
            logger.exception("facts database unavailable")
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
        return []
