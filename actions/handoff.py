"""「转人工」: pause the bot and queue the conversation for staff, or offer the lead form."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from bot import db, leads, settings

logger = logging.getLogger(__name__)


class ActionRequestHandoff(Action):
    """During staff hours: queue for a human and pause; otherwise: the lead form."""

    def name(self) -> Text:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        config = settings.load()
        start, end = config.business_hours
        if not config.staff_on_duty(dt.datetime.now(dt.timezone.utc)):
            dispatcher.utter_message(response="utter_handoff_closed", hours=f"工作日 {start}:00–{end}:00")
            return [FollowupAction("lead_form")]
        try:
            with db.session_scope(config.database_url) as session:
                leads.queue_handoff(tracker.sender_id, tracker.get_latest_input_channel() or "rest",
                                    session=session)
        except SQLAlchemyError:
            logger.exception("could not queue the handoff")
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
            return []
        dispatcher.utter_message(response="utter_handoff_queued")
        # from here Rasa records the visitor's messages without answering until staff resume it
        return [ConversationPaused()]
