"""Answer licence questions from the facts database."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions import decide, eligibility_rules
from actions.clarify import failed_just_before, offer_choices
from bot import db, settings
from bot.store import facts

logger = logging.getLogger(__name__)

CAPITAL_FACT = "conditions.capital"
# the conditions fact: its data holds the pre-check's gap lines (who may apply, credit, premises)
CONDITIONS_FACT = "conditions.all"


def message_entities(tracker: Tracker) -> Dict[str, Any]:
    """Return the entities of the latest message as {entity: value} (a comparison of two values left out)."""
    return decide.message_entities(tracker.latest_message.get("entities") or [])


def earlier_entities(tracker: Tracker) -> List[Any]:
    """The entities of every visitor message before the latest, oldest first (this session only)."""
    users: List[Any] = []
    for event in tracker.events:
        if event.get("event") == "session_started":
            users = []
        elif event.get("event") == "user":
            users.append((event.get("parse_data") or {}).get("entities") or [])
    return users[:-1]


def thresholds(config: settings.Settings) -> decide.Thresholds:
    """The decision's thresholds, with the answer gate this process was configured with."""
    return replace(
        decide.DEFAULT_THRESHOLDS,
        answer_min_confidence=config.answer_min_confidence,
        answer_min_margin=config.answer_min_margin,
    )


def answer_capital(
    dispatcher: CollectingDispatcher,
    fact: facts.Fact,
    capital: float,
    scope: Optional[str],
    company_type: Optional[str] = None,
    conditions: Optional[facts.Fact] = None,
) -> None:
    """Say whether ``capital`` (万元) is enough, with thresholds from the fact's data.

    A sole trader (个体户) cannot apply whatever its capital: that comes first. What the law
    says beside the verdict (认缴, who may apply) comes from the facts too, never from the domain.
    """
    verdict = eligibility_rules.capital_verdict(capital, scope, fact.data)
    paid_in = (fact.data or {}).get("paid_in") or ""
    if company_type == "个体户":
        dispatcher.utter_message(
            response="utter_eligibility_not_yet", licence=verdict.scope or "地网", source=fact.source_text
        )
        dispatcher.utter_message(response="utter_gap_company", gap=gap_text("company", conditions or fact))
        if not verdict.enough:
            dispatcher.utter_message(
                response="utter_gap_capital",
                minimum=eligibility_rules.wan(verdict.minimum),
                capital=eligibility_rules.wan(verdict.capital),
                paid_in=paid_in,
            )
        return
    if verdict.scope is None and verdict.local_only:
        verdict = eligibility_rules.capital_verdict(capital, "全网", fact.data)
    wan = eligibility_rules.wan
    common = {
        "capital": wan(verdict.capital),
        "minimum": wan(verdict.minimum),
        "paid_in": paid_in,
        "scope": verdict.scope or "地网",
        "source": fact.source_text,
        "fact_key": fact.key,
        "fact_version": fact.version,
    }
    if verdict.enough:
        dispatcher.utter_message(response="utter_capital_enough", **common)
        return
    dispatcher.utter_message(response="utter_capital_short", **common)
    if verdict.local_only:
        dispatcher.utter_message(
            response="utter_capital_alternative_local", local=wan(verdict.local), national=wan(verdict.national)
        )
    else:
        dispatcher.utter_message(
            response="utter_capital_alternative_raise", minimum=wan(verdict.minimum), paid_in=paid_in
        )


def gap_text(name: str, fact: facts.Fact) -> str:
    """The line of the pre-check's gap list for condition ``name``, from the conditions fact's data.

    ``fact`` may be any fact that carries the gaps (the conditions fact); without them its answer is
    the safe stand-in, so a staff edit never leaves an empty bullet.
    """
    gaps = (fact.data or {}).get("gaps") or {}
    return gaps.get(name) or fact.answer


def say_correction(dispatcher: CollectingDispatcher, fact: facts.Fact, corr: facts.Correction) -> None:
    """Correct a claim: an outdated rule says since when; a misconception is never called outdated.

    A claim true for some visitors only (``partial``) is not called wrong: its text says for whom it holds.
    """
    if corr.kind in ("misconception", "partial"):
        dispatcher.utter_message(
            response=f"utter_fact_{corr.kind}",
            claim=corr.claim,
            current=corr.current,
            fact_key=fact.key,
            fact_version=fact.version,
        )
        return
    since = f"（{corr.since}年起）" if corr.since else ""
    dispatcher.utter_message(
        response="utter_fact_correction",
        claim=corr.claim,
        current=corr.current,
        since=since,
        fact_key=fact.key,
        fact_version=fact.version,
    )


def situation_verdict(
    dispatcher: CollectingDispatcher, entities: Dict[str, Any], session: Session, config: settings.Settings
) -> List[Dict[Text, Any]]:
    """Say whether the capital the visitor named is enough for the scope named or implied."""
    fact = facts.get_fact(CAPITAL_FACT, session=session)
    if fact is None:
        dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
        return []
    if "capital" not in entities:  # a sole trader: whatever its capital, the applicant must be a company
        conditions = facts.get_fact(CONDITIONS_FACT, session=session) or fact
        scope = entities.get("licence_scope") or "地网"
        dispatcher.utter_message(response="utter_eligibility_not_yet", licence=scope, source=conditions.source_text)
        dispatcher.utter_message(response="utter_gap_company", gap=gap_text("company", conditions))
        dispatcher.utter_message(response="utter_eligibility_next")
        return [SlotSet("fact_key", conditions.key)]
    answer_capital_named(dispatcher, fact, entities, session)
    dispatcher.utter_message(response="utter_eligibility_next")
    return [SlotSet("fact_key", fact.key)]


def answer_capital_named(
    dispatcher: CollectingDispatcher, fact: facts.Fact, entities: Dict[str, Any], session: Session
) -> None:
    """Give the capital verdict for the amount, scope and company type the visitor named."""
    answer_capital(
        dispatcher,
        fact,
        entities["capital"],
        entities.get("licence_scope"),
        entities.get("company_type"),
        facts.get_fact(CONDITIONS_FACT, session=session),
    )


def say_fact(
    dispatcher: CollectingDispatcher, fact: facts.Fact, entities: Dict[str, Any], session: Session
) -> List[Dict[Text, Any]]:
    """Answer with ``fact`` for the case ``entities`` describe: its text and source, corrections, confidence."""
    if "capital" in entities and (fact.data or {}).get("capital_min_wan"):
        answer_capital_named(dispatcher, fact, entities, session)
    else:
        # the bot message records the fact and version it quotes (metadata of the stored event)
        answer, version = facts.versioned_answer(fact, entities)
        dispatcher.utter_message(
            response="utter_fact", answer=answer, source=fact.source_text, fact_key=fact.key, fact_version=version
        )
    for corr in fact.corrections:
        say_correction(dispatcher, fact, corr)
    if fact.unconfirmed:
        dispatcher.utter_message(response="utter_fact_unconfirmed", note=facts.CONFIDENCE_LEVELS[fact.confidence])
    # the slot records which fact answered, for staff review and follow-ups
    return [SlotSet("fact_key", fact.key)]


class ActionAnswerFact(Action):
    """Reply to a question: its fact, a verdict, the closest questions, an honest reply or the scope reply."""

    def name(self) -> Text:
        return "action_answer_fact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        config = settings.current()
        try:
            with db.session_scope(config.database_url) as session:
                questions = facts.questions_by_intent(session=session)
                turn = decide.Turn.from_parse(
                    tracker.latest_message,
                    previous_fact=tracker.get_slot("fact_key"),
                    failed_before=failed_just_before(tracker),
                    in_form=bool((tracker.active_loop or {}).get("name")),
                    told_before=decide.remembered(earlier_entities(tracker)),
                )
                own = decide.own_questions(questions)
                decision = decide.decide(turn, set(questions), own, thresholds(config))
                return render(dispatcher, decision, turn, session, config)
        except SQLAlchemyError:
            logger.exception("facts database unavailable")
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
        return []


def render(
    dispatcher: CollectingDispatcher,
    decision: decide.Decision,
    turn: decide.Turn,
    session: Session,
    config: settings.Settings,
) -> List[Dict[Text, Any]]:
    """Say what ``decision`` decided."""
    entities = dict(turn.entities)
    if decision.kind == "verdict":
        return situation_verdict(dispatcher, entities, session, config)
    if decision.kind == "answer":
        if decision.fact_key:
            fact = facts.get_fact(decision.fact_key, session=session)
        else:
            fact = facts.fact_for_intent(decision.intent, session=session) if decision.intent else None
        if fact is None:  # deleted since the decision read the intents
            logger.warning("no fact answers %r", decision.fact_key or decision.intent)
            dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
            return []
        events = say_fact(dispatcher, fact, entities, session)
        for intent in decision.also:  # the message's second question, in the same reply
            second = facts.fact_for_intent(intent, session=session)
            if second is not None:
                say_fact(dispatcher, second, entities, session)  # the first stays the topic of follow-ups
        return events
    if decision.kind == "missing":
        logger.warning("no fact answers intent %r", decision.intent)
        dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
    elif decision.kind == "off_topic":
        dispatcher.utter_message(response="utter_out_of_scope")
    elif decision.kind == "honest":
        dispatcher.utter_message(response=decision.response)
    elif decision.kind == "consultant":
        dispatcher.utter_message(response="utter_clarify_consultant")
    elif decision.kind == "form":
        pass  # the form reads the message and asks again with its own hint
    else:
        offer_choices(dispatcher, decision.candidates, session)
    return []
