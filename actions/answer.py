"""Answer licence questions from the facts database."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.clarify import clarify
from bot import db, eligibility, settings
from bot.store import facts

logger = logging.getLogger(__name__)

# messages that only narrow the previous question (「那省内的呢」, 「外资」)
FOLLOWUPS = {"ask_followup", "inform"}


def message_entities(tracker: Tracker) -> Dict[str, Any]:
    """Return the entities of the latest message as {entity: value}.

    An entity named with two different values (「全网和地网有什么区别」) is a
    comparison, not a case: it is left out so the general answer is given.
    """
    values: Dict[str, set] = {}
    first: Dict[str, Any] = {}
    for entity in tracker.latest_message.get("entities") or []:
        values.setdefault(entity["entity"], set()).add(str(entity["value"]))
        first.setdefault(entity["entity"], entity["value"])
    return {name: first[name] for name, seen in values.items() if len(seen) == 1}


def is_uncertain(tracker: Tracker, config: settings.Settings) -> bool:
    """Gate the answer itself: too little confidence, or a close second answer."""
    intent = tracker.latest_message.get("intent") or {}
    ranking = [r for r in tracker.latest_message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    confidence = intent.get("confidence")
    if confidence is None:  # a button payload or a test story: nothing to doubt
        return False
    second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
    return confidence < config.answer_min_confidence or confidence - second < config.answer_min_margin


def answer_capital(dispatcher: CollectingDispatcher, fact: facts.Fact, capital: float,
                   scope: Optional[str]) -> None:
    """Say whether ``capital`` (万元) is enough, with thresholds from the fact's data."""
    verdict = eligibility.capital_verdict(capital, scope, fact.data)
    if verdict.scope is None and verdict.local_only:
        verdict = eligibility.capital_verdict(capital, "全网", fact.data)
    wan = eligibility.wan
    common = dict(capital=wan(verdict.capital), minimum=wan(verdict.minimum),
                  scope=verdict.scope or "地网", source=fact.source_text, fact_key=fact.key, fact_version=fact.version)
    if verdict.enough:
        dispatcher.utter_message(response="utter_capital_enough", **common)
        return
    dispatcher.utter_message(response="utter_capital_short", **common)
    if verdict.local_only:
        dispatcher.utter_message(response="utter_capital_alternative_local",
                                 local=wan(verdict.local), national=wan(verdict.national))
    else:
        dispatcher.utter_message(response="utter_capital_alternative_raise", minimum=wan(verdict.minimum))


class ActionAnswerFact(Action):
    """Reply with the fact that answers the visitor's question, its source and corrections."""

    def name(self) -> Text:
        return "action_answer_fact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        config = settings.current()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        entities = message_entities(tracker)
        if intent not in FOLLOWUPS and is_uncertain(tracker, config):
            clarify(dispatcher, tracker)
            return []
        try:
            with db.session_scope(config.database_url) as session:
                if intent in FOLLOWUPS:
                    previous = tracker.get_slot("fact_key")
                    fact = facts.get_fact(previous, session=session) if previous else None
                    if fact is None or not entities:
                        clarify(dispatcher, tracker)
                        return []
                else:
                    fact = facts.fact_for_intent(intent, session=session) if intent else None
                if fact is None:
                    logger.warning("no fact answers intent %r", intent)
                    dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
                    return []
                if "capital" in entities and (fact.data or {}).get("capital_min_wan"):
                    answer_capital(dispatcher, fact, entities["capital"], entities.get("licence_scope"))
                else:
                    # the bot message records the fact and version it quotes (metadata of the stored event)
                    answer, version = facts.versioned_answer(fact, entities)
                    dispatcher.utter_message(response="utter_fact", answer=answer, source=fact.source_text,
                                             fact_key=fact.key, fact_version=version)
                for corr in fact.corrections:
                    dispatcher.utter_message(response="utter_fact_correction", claim=corr.claim,
                                             current=corr.current, since=corr.since or "",
                                             fact_key=fact.key, fact_version=fact.version)
                if fact.unconfirmed:
                    dispatcher.utter_message(response="utter_fact_unconfirmed",
                                             note=facts.CONFIDENCE_LEVELS[fact.confidence])
                # the slot records which fact answered, for staff review and follow-ups
                return [SlotSet("fact_key", fact.key)]
        except SQLAlchemyError:
            logger.exception("facts database unavailable")
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
        return []
