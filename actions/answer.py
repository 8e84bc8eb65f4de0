"""Answer licence questions from the facts database."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.clarify import answered_intents, clarify, looks_off_topic
from bot import db, eligibility, settings
from bot.store import facts

logger = logging.getLogger(__name__)

# messages that only narrow the previous question (「那省内的呢」, 「外资」)
FOLLOWUPS = {"ask_followup", "inform"}
# questions that, asked with a registered capital (「注册资本300万，接全国的客服，能办吗」), ask for a verdict
VERDICT_INTENTS = {
    "ask_capital",
    "ask_conditions",
    "ask_licence_types",
    "ask_coverage",
    "ask_foreign_investment",
    "ask_need_licence",
    "check_eligibility",
} | FOLLOWUPS
CAPITAL_FACT = "conditions.capital"
# the conditions fact: its data holds the pre-check's gap lines (who may apply, credit, premises)
CONDITIONS_FACT = "conditions.all"
# below this confidence an answer gives way to the second opinion that the message is off-topic
# (「帮我查一下顺丰单号」 read as the 95/96 number question with 0.77)
OFF_TOPIC_OVERRULE = 0.9
# below this confidence the model's answer gives way to another answered question whose example is
# at least this similar (measured on tests/nlu and the realistic set: 5 answers right, none lost)
SECOND_OPINION_BELOW = 0.65
SECOND_OPINION_SIMILARITY = 0.4
# the model unsure (a fallback, or below the answer gate) but its best guess is also the question whose
# training example is closest, at least this similar: two independent opinions agree, so it is answered
# (measured on tests/nlu and the every-fact questions: see the commit that set it)
AGREEMENT_SIMILARITY = 0.35
AGREEMENT_CONFIDENCE = 0.15
# a bare place with nothing asked before: who approves, for that case
WHERE_FACT = "licence.types"


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
    verdict = eligibility.capital_verdict(capital, scope, fact.data)
    paid_in = (fact.data or {}).get("paid_in") or ""
    if company_type == "个体户":
        dispatcher.utter_message(
            response="utter_eligibility_not_yet", licence=verdict.scope or "地网", source=fact.source_text
        )
        dispatcher.utter_message(response="utter_gap_company", gap=gap_text("company", conditions or fact))
        if not verdict.enough:
            dispatcher.utter_message(
                response="utter_gap_capital",
                minimum=eligibility.wan(verdict.minimum),
                capital=eligibility.wan(verdict.capital),
                paid_in=paid_in,
            )
        return
    if verdict.scope is None and verdict.local_only:
        verdict = eligibility.capital_verdict(capital, "全网", fact.data)
    wan = eligibility.wan
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


def second_opinion(message: Dict[str, Any], answered: set) -> Optional[str]:
    """The answered question the retrieval second opinion prefers to the model's unsure one, or None."""
    intent = (message.get("intent") or {}).get("name")
    confidence = (message.get("intent") or {}).get("confidence")
    ranking = [r for r in message.get("retrieval") or [] if isinstance(r, dict) and "name" in r]
    if intent not in answered or confidence is None or confidence >= SECOND_OPINION_BELOW or not ranking:
        return None
    best = ranking[0]
    if best["name"] != intent and best["name"] in answered and best["similarity"] >= SECOND_OPINION_SIMILARITY:
        return best["name"]
    return None


def agreed_intent(message: Dict[str, Any], answered: set) -> Optional[str]:
    """The answered question both the model (its best guess, fallback aside) and the second opinion name, or None."""
    ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    retrieval = [r for r in message.get("retrieval") or [] if isinstance(r, dict) and "name" in r]
    if not ranking or not retrieval:
        return None
    guess, closest_example = ranking[0], retrieval[0]
    if (
        guess["name"] == closest_example["name"]
        and guess["name"] in answered
        and (guess.get("confidence") or 0) >= AGREEMENT_CONFIDENCE
        and closest_example["similarity"] >= AGREEMENT_SIMILARITY
    ):
        return guess["name"]
    return None


def overruled_as_off_topic(tracker: Tracker) -> bool:
    """The second opinion finds an off-topic example closest, and the model is not sure enough to differ."""
    confidence = (tracker.latest_message.get("intent") or {}).get("confidence")
    return confidence is not None and confidence < OFF_TOPIC_OVERRULE and looks_off_topic(tracker)


def is_situation(tracker: Tracker, entities: Dict[str, Any], config: settings.Settings) -> bool:
    """A registered capital with a can-we-apply question.

    When the model is unsure, it is enough that its two best guesses both ask for a verdict
    (「能办吗」 read as the conditions or as the capital question: the answer is the same).
    """
    if "capital" not in entities or looks_off_topic(tracker):  # 「想贷款20万」 names an amount too
        return False
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if not is_uncertain(tracker, config) and intent != "nlu_fallback":
        return intent in VERDICT_INTENTS
    ranking = [r["name"] for r in tracker.latest_message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    return bool(ranking) and all(name in VERDICT_INTENTS for name in ranking[:2])


def situation_verdict(
    dispatcher: CollectingDispatcher, entities: Dict[str, Any], config: settings.Settings
) -> List[Dict[Text, Any]]:
    """Say whether the capital the visitor named is enough for the scope named or implied."""
    try:
        with db.session_scope(config.database_url) as session:
            fact = facts.get_fact(CAPITAL_FACT, session=session)
            if fact is None:
                dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
                return []
            answer_capital_named(dispatcher, fact, entities, session)
            dispatcher.utter_message(response="utter_eligibility_next")
            return [SlotSet("fact_key", fact.key)]
    except SQLAlchemyError:
        logger.exception("facts database unavailable")
        dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
    return []


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
    """Reply with the fact that answers the visitor's question, its source and corrections."""

    def name(self) -> Text:
        return "action_answer_fact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        config = settings.current()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        entities = message_entities(tracker)
        if is_situation(tracker, entities, config) and (intent not in FOLLOWUPS or not tracker.get_slot("fact_key")):
            return situation_verdict(dispatcher, entities, config)
        preferred = None
        confidence = (tracker.latest_message.get("intent") or {}).get("confidence")
        if intent not in FOLLOWUPS and confidence is not None and confidence < SECOND_OPINION_BELOW:
            try:
                with db.session_scope(config.database_url) as session:
                    preferred = second_opinion(tracker.latest_message, answered_intents(session))
            except SQLAlchemyError:
                preferred = None
        if preferred:
            intent = preferred
        elif intent not in FOLLOWUPS and is_uncertain(tracker, config):
            try:
                with db.session_scope(config.database_url) as session:
                    agreed = agreed_intent(tracker.latest_message, answered_intents(session))
            except SQLAlchemyError:
                agreed = None
            if agreed is None:
                clarify(dispatcher, tracker)
                return []
            intent = agreed
        if intent not in FOLLOWUPS and overruled_as_off_topic(tracker):
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        try:
            with db.session_scope(config.database_url) as session:
                if intent in FOLLOWUPS:
                    previous = tracker.get_slot("fact_key")
                    if not previous and "province" in entities:
                        previous = WHERE_FACT  # 「我们在苏州，只做本地」 as a first message: who approves
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
                return say_fact(dispatcher, fact, entities, session)
        except SQLAlchemyError:
            logger.exception("facts database unavailable")
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
        return []
