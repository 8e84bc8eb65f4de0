"""The eligibility pre-check: a form that asks only what it does not know, then a verdict.

A message that already tells the licence scope and the registered capital (「杭州的公司，注册资本
300万，接全国的客服外包，能办吗」) gets the verdict at once: the form starts with nothing left to
ask and ends, and the result names what is still to be confirmed.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions import eligibility_rules
from actions.answer import gap_text
from actions.tracker import latest_intent
from bot import db, settings
from bot.store import facts

FORM_SLOTS = ["licence_scope", "company_type", "capital", "on_blacklist", "has_premises"]
# what a verdict needs when the visitor told it in one message
VERDICT_SLOTS = ["licence_scope", "capital"]
CAPITAL_FACT = "conditions.capital"
CONDITIONS_FACT = "conditions.all"
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)?")


def parse_capital(value: Any) -> Optional[float]:
    """Return registered capital in 万元 from a slot value or text, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    match = _AMOUNT.search(str(value or ""))
    if not match:
        return None
    amount = float(match.group(1))
    if match.group(2) == "亿":
        amount *= 10000
    elif match.group(2) is None and amount >= 10000:  # plain yuan
        amount /= 10000
    return amount if amount > 0 else None


def told_enough(tracker: Tracker) -> bool:
    """Whether the message that starts the pre-check already names the scope and the capital."""
    if tracker.get_slot("requested_slot") is not None:
        return False
    named = {e.get("entity") for e in tracker.latest_message.get("entities") or []}
    return all(slot in named for slot in VERDICT_SLOTS)


class ActionEligibilityStart(Action):
    """Announce the questions, unless the message already told enough for a verdict."""

    def name(self) -> Text:
        return "action_eligibility_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        if not told_enough(tracker):
            dispatcher.utter_message(response="utter_eligibility_start")
        return []


class ValidateEligibilityForm(FormValidationAction):
    """Check each answer; an invalid one is cleared and re-asked with a hint."""

    def name(self) -> Text:
        return "validate_eligibility_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        # a situation told in one message: answer it now, the rest is confirmed with a consultant
        return VERDICT_SLOTS if told_enough(tracker) else domain_slots

    async def extract_capital(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "capital":
            return {}
        if any(e.get("entity") == "capital" for e in tracker.latest_message.get("entities") or []):
            return {}  # the entity mapping fills it
        intent = latest_intent(tracker)
        text = tracker.latest_message.get("text") or ""
        if intent.startswith("ask_") or intent == "stop" or text.startswith("/"):
            return {}  # a question or a stop: let the rules answer it
        return {"capital": text}

    def validate_capital(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        amount = parse_capital(value)
        if amount is None:
            dispatcher.utter_message(response="utter_invalid_capital")
        return {"capital": amount}

    def validate_licence_scope(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return {"licence_scope": value if value in eligibility_rules.SCOPE_KEYS else None}


class ActionEligibilityResult(Action):
    """Tell which licence the company can apply for and what is missing."""

    def name(self) -> Text:
        return "action_eligibility_result"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        config = settings.current()
        scope = tracker.get_slot("licence_scope") or "地网"
        capital = parse_capital(tracker.get_slot("capital")) or 0.0
        try:
            with db.session_scope(config.database_url) as session:
                capital_fact = facts.get_fact(CAPITAL_FACT, session=session)
                conditions = facts.get_fact(CONDITIONS_FACT, session=session)
                if capital_fact is None or conditions is None:
                    dispatcher.utter_message(response="utter_fact_missing", contact=config.consultant_contact)
                    return []
                verdict = eligibility_rules.capital_verdict(capital, scope, capital_fact.data)
                source = conditions.source_text
                # what the law says in the gap lines comes from the facts (staff edit it there)
                says = {name: gap_text(name, conditions) for name in ("company", "blacklist", "premises")}
                paid_in = (capital_fact.data or {}).get("paid_in") or ""
        except SQLAlchemyError:
            dispatcher.utter_message(response="utter_facts_unavailable", contact=config.consultant_contact)
            return []
        wan = eligibility_rules.wan
        gaps = []
        if tracker.get_slot("company_type") == "个体户":
            gaps.append(("utter_gap_company", {"gap": says["company"]}))
        if not verdict.enough:
            if verdict.local_only:
                gaps.append(
                    (
                        "utter_gap_capital_local",
                        {"national": wan(verdict.national), "local": wan(verdict.local), "capital": wan(capital)},
                    )
                )
            else:
                gaps.append(
                    (
                        "utter_gap_capital",
                        {"minimum": wan(verdict.minimum), "capital": wan(capital), "paid_in": paid_in},
                    )
                )
        if tracker.get_slot("on_blacklist"):
            gaps.append(("utter_gap_blacklist", {"gap": says["blacklist"]}))
        if tracker.get_slot("has_premises") is False:
            gaps.append(("utter_gap_premises", {"gap": says["premises"]}))
        if gaps:
            dispatcher.utter_message(response="utter_eligibility_not_yet", licence=scope, source=source)
            for response, values in gaps:
                dispatcher.utter_message(response=response, **values)
        elif tracker.get_slot("on_blacklist") is None or tracker.get_slot("has_premises") is None:
            # told in one message: what was not said is not claimed
            dispatcher.utter_message(
                response="utter_eligibility_ok_partial",
                licence=scope,
                capital=wan(capital),
                minimum=wan(verdict.minimum),
                source=source,
            )
        else:
            dispatcher.utter_message(
                response="utter_eligibility_ok",
                licence=scope,
                capital=wan(capital),
                minimum=wan(verdict.minimum),
                source=source,
            )
        dispatcher.utter_message(response="utter_eligibility_next")
        # a one-line record for staff (the lead keeps it)
        summary = f"{scope}，{tracker.get_slot('company_type') or '?'}，注册资本{wan(capital)}万：" + (
            "满足主要条件" if not gaps else "缺 " + "、".join(g[0].replace("utter_gap_", "") for g in gaps)
        )
        return [SlotSet("eligibility_summary", summary)]
