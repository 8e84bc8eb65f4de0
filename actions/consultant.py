"""Put the visitor in touch with a human consultant."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import settings


class ActionOfferConsultant(Action):
    """Tell the visitor how to reach a consultant."""

    def name(self) -> Text:
        return "action_offer_consultant"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(response="utter_consultant_contact",
                                 contact=settings.load().consultant_contact)
        return []
