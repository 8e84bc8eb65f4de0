"""「转人工」: pause the bot and queue the conversation for staff, or offer the lead form.

Anyone can ask for a human, so the queue is bounded (environment):
HANDOFF_MAX_QUEUED (20) visitors waiting at once, HANDOFF_MAX_PER_MINUTE
(10) new handoffs a minute for everyone together and HANDOFF_MAX_PER_ADDRESS
(2) waiting from one address (the channel passes a key of it); a conversation
has at most one open handoff. Past a limit the visitor hears that staff are busy and gets
the lead form, as when nobody claims a handoff in time; so does a conversation
whose id Rasa's API cannot address (staff could never answer or end it).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot import db, settings
from bot.rasa_api import addressable
from bot.store import handoffs, leads

logger = logging.getLogger(__name__)


def queue_is_full(
    conversation_id: str, config: settings.Settings, session: Session, client: Optional[str] = None
) -> bool:
    """Whether a new handoff would go past HANDOFF_MAX_QUEUED waiting, HANDOFF_MAX_PER_MINUTE new ones, or
    HANDOFF_MAX_PER_ADDRESS waiting from the visitor's address (``client``: its key, from the channel)."""
    if handoffs.open_handoff(conversation_id, session=session) is not None:
        return False  # already queued: asking again adds nothing
    per_address = config.handoff_max_per_address
    if client and per_address:
        mine = session.execute(
            select(func.count())
            .select_from(handoffs.Handoff)
            .where(handoffs.Handoff.status == "queued", handoffs.Handoff.client == client)
        ).scalar_one()
        if mine >= per_address:
            return True
    queued = session.execute(
        select(func.count()).select_from(handoffs.Handoff).where(handoffs.Handoff.status == "queued")
    ).scalar_one()
    recent = session.execute(
        select(func.count())
        .select_from(handoffs.Handoff)
        .where(handoffs.Handoff.created_at >= leads.utcnow() - dt.timedelta(minutes=1))
    ).scalar_one()
    max_queued, per_minute = config.handoff_max_queued, config.handoff_max_per_minute
    return bool((max_queued and queued >= max_queued) or (per_minute and recent >= per_minute))


class ActionRequestHandoff(Action):
    """During staff hours: queue for a human and pause; otherwise: the lead form."""

    def name(self) -> Text:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        config = settings.current()
        start, end = config.business_hours
        if not config.staff_on_duty(dt.datetime.now(dt.timezone.utc)):
            dispatcher.utter_message(response="utter_handoff_closed", hours=f"工作日 {start}:00–{end}:00")
            return [FollowupAction("lead_form")]
        if not addressable(tracker.sender_id):
            # staff could never answer, end or expire it through Rasa's API: the lead form reaches them instead
            logger.warning("handoff for an id Rasa's API cannot address (%.6r…): lead form", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_timeout")
            return [FollowupAction("lead_form")]
        try:
            client = _client(tracker)
            with db.session_scope(config.database_url) as session:
                full = queue_is_full(tracker.sender_id, config, session, client)
                if not full:
                    handoffs.queue_handoff(
                        tracker.sender_id,
                        (tracker.get_latest_input_channel() or "rest")[:30],
                        session=session,
                        client=client,
                    )
        except SQLAlchemyError:
            logger.exception("could not queue the handoff")
            dispatcher.utter_message(response="utter_handoff_unavailable", contact=config.consultant_contact)
            return []
        if full:
            logger.warning("handoff queue full: %s… offered the lead form", str(tracker.sender_id)[:6])
            dispatcher.utter_message(response="utter_handoff_timeout")
            return [FollowupAction("lead_form")]
        dispatcher.utter_message(response="utter_handoff_queued")
        # from here Rasa records the visitor's messages without answering until staff resume it
        return [ConversationPaused()]


def _client(tracker: Tracker) -> Optional[str]:
    """The key of the visitor's address the channel put in the message's metadata (None: a trusted caller)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    client = metadata.get(handoffs.CLIENT) if isinstance(metadata, dict) else None
    return client[:64] if isinstance(client, str) and client else None
