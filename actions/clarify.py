"""When the assistant is not sure: offer the closest questions, then a consultant.

The NLU's retrieval second opinion (bot/plugins/nlu/retrieval.py: the training examples most like
the message) decides between the three honest replies: 「您是想问……」 with buttons when the message
is close to questions we answer, 「这个问题我还没有确切资料」 with a consultant when it is about
our field but close to none of them, and the scope reply when it is off-topic.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot import db, settings
from bot.store import facts

NOT_ANSWERS = {"nlu_fallback", "ask_followup"}
MAX_CHOICES = 3
MIN_CANDIDATE_CONFIDENCE = 0.02
OFF_TOPIC = "out_of_scope"
# in scope, no fact: the honest reply for each
HONEST_REPLIES = {"ask_uncovered": "utter_no_fact", "ask_other_licence": "utter_other_licence"}
# retrieval similarity (cosine, character n-grams) of the closest example of an answered question:
# from NEAR on, the question is probably one of ours and worth buttons; an off-topic guess is
# overruled from IN_SCOPE on (measured on tests/nlu: see the commit that set them)
NEAR = 0.35
IN_SCOPE = 0.6
RETRIEVAL = "retrieval"
IN_FIELD = "in_field"


def candidate_intents(tracker: Tracker) -> List[str]:
    """Return the ranked intents that could be meant, best first.

    The model's ranking, re-ordered by the retrieval second opinion where there is one: an intent
    scores its confidence plus its closest example's similarity.
    """
    ranking = tracker.latest_message.get("intent_ranking") or []
    scores = {
        r["name"]: float(r.get("confidence") or 0)
        for r in ranking
        if r.get("name") not in NOT_ANSWERS and (r.get("confidence") or 0) >= MIN_CANDIDATE_CONFIDENCE
    }
    for r in retrieved(tracker):
        if r["name"] not in NOT_ANSWERS:
            scores[r["name"]] = scores.get(r["name"], 0.0) + r["similarity"]
    return sorted(scores, key=lambda name: -scores[name])


def answered_intents(session: Session) -> set:
    """The intents a fact answers."""
    return set(session.execute(select(facts.Fact.intent).where(facts.Fact.intent.isnot(None))).scalars())


def retrieved(tracker: Tracker) -> List[Dict[str, Any]]:
    """The retrieval second opinion: [{name, similarity}], best first (empty for a button payload)."""
    return _retrieval(tracker.latest_message)


def looks_off_topic(tracker: Tracker) -> bool:
    """Whether the second opinion's closest training example is an off-topic one."""
    return closest_is_off_topic(tracker.latest_message)


def closest_is_off_topic(message: Dict[str, Any]) -> bool:
    ranking = _retrieval(message)
    return bool(ranking) and ranking[0]["name"] == OFF_TOPIC


def _retrieval(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [r for r in message.get(RETRIEVAL) or [] if isinstance(r, dict) and "name" in r]


def _closest(message: Dict[str, Any], wanted: Callable[[str], bool]) -> float:
    ranking = _retrieval(message)
    if not ranking:
        return -1.0
    return max((r["similarity"] for r in ranking if wanted(r["name"])), default=0.0)


def closest(tracker: Tracker, intents: set) -> float:
    """The best similarity of an example of one of ``intents``, or -1 when there is no second opinion."""
    return _closest(tracker.latest_message, lambda name: name in intents)


def off_topic(message: Dict[str, Any], answered: set) -> bool:
    """Whether an unsure message gets the scope reply (``message``: the parse data).

    Off-topic when the closest training example is an off-topic one; or the model's best guess is
    off-topic and no in-scope example is close; or the message names nothing of our field and is
    like no in-scope example at all. Without a second opinion: the model's best guess decides.
    """
    ranking = [r["name"] for r in message.get("intent_ranking") or [] if r.get("name") not in NOT_ANSWERS]
    guess = ranking[0] if ranking else None
    if not _retrieval(message):
        return guess == OFF_TOPIC
    in_scope = _closest(message, lambda name: name in answered or name in HONEST_REPLIES)
    anything = _closest(message, lambda name: name != OFF_TOPIC)
    return (
        closest_is_off_topic(message)
        or (guess == OFF_TOPIC and in_scope < IN_SCOPE)
        or (message.get(IN_FIELD) is False and anything < NEAR)
    )


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


def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Offer up to three likely questions as buttons, or a consultant after repeated failure."""
    if failed_just_before(tracker):
        dispatcher.utter_message(response="utter_clarify_consultant")
        return
    ranking = [
        r["name"] for r in tracker.latest_message.get("intent_ranking") or [] if r.get("name") not in NOT_ANSWERS
    ]
    guess = ranking[0] if ranking else None
    config = settings.current()
    try:
        with db.session_scope(config.database_url) as session:
            answered = answered_intents(session)
            near = closest(tracker, answered)
            if off_topic(tracker.latest_message, answered):
                dispatcher.utter_message(response="utter_out_of_scope")
                return
            if guess in HONEST_REPLIES and near < IN_SCOPE:
                dispatcher.utter_message(response=HONEST_REPLIES[guess])
                return
            if 0 <= near < NEAR:  # about our field, but like none of the questions we answer
                dispatcher.utter_message(response="utter_no_fact")
                return
            buttons = []
            for intent in candidate_intents(tracker):
                fact = facts.fact_for_intent(intent, session=session) if intent in answered else None
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

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        from actions import answer  # answer uses clarify: imported here, not at the top

        config = settings.current()
        entities = answer.message_entities(tracker)
        if not tracker.active_loop.get("name") and answer.is_situation(tracker, entities, config):
            return answer.situation_verdict(dispatcher, entities, config)
        try:
            with db.session_scope(config.database_url) as session:
                # the model fell back, but its best guess is the question whose example is closest: answer it
                agreed = answer.agreed_intent(tracker.latest_message, answered_intents(session))
                fact = facts.fact_for_intent(agreed, session=session) if agreed else None
                if fact is not None:
                    return answer.say_fact(dispatcher, fact, entities, session)
        except SQLAlchemyError:
            pass  # clarify says the facts are unavailable
        clarify(dispatcher, tracker)
        return []
