"""The lead form: who wants help and how to reach them; saved with its outbox rows."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.tracker import latest_intent
from bot import db, settings
from bot.store import facts, leads

logger = logging.getLogger(__name__)

# intents that are not answers to the form's question, when the message reads like one
NOT_ANSWERS = re.compile(r"^(ask_.*|check_eligibility|request_consultant|request_human|bot_challenge)$")
QUESTION = re.compile(r"[?？]|吗|怎么|如何|多少|哪些|哪里|哪个|什么|几[个年天月]|是否|能否|能不能|可不可以|要不要")
PHONE_IN_TEXT = re.compile(r"(?:\+?86[\s-]?)?(1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|0\d{2,3}[\s-]?\d{7,8})")
UNSURE = re.compile(r"不确定|不知道|没想好|不清楚|都行|看情况")
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


def _answer_text(tracker: Tracker) -> Optional[str]:
    """The latest message as an answer, or None when it is a question or a command."""
    intent = latest_intent(tracker)
    text = (tracker.latest_message.get("text") or "").strip()
    if not text or text.startswith("/") or intent == "stop":
        return None
    if NOT_ANSWERS.match(intent) and QUESTION.search(text):
        return None  # a licence question in the middle of the form: the rules answer it
    return text[:200]


def when_staff_call(now: dt.datetime, config: settings.Settings) -> str:
    """Say when a consultant will call, from the business hours in settings (China time)."""
    start, end = config.business_hours
    local = now.astimezone(CHINA_TZ)
    if local.isoweekday() in config.business_days and start <= local.hour < end:
        return f"顾问会在工作时间内尽快联系您（工作时间 {start}:00–{end}:00）。"
    day = local
    for _ in range(8):
        if day.isoweekday() in config.business_days and (day.date() > local.date() or local.hour < start):
            if day.date() == local.date():
                label = "今天"
            elif day.date() == local.date() + dt.timedelta(days=1):
                label = "明天"
            else:
                label = f"{day.month}月{day.day}日"
            return f"现在是非工作时间，顾问会在{label} {start}:00 之后联系您。"
        day = (day + dt.timedelta(days=1)).replace(hour=0)
    return "顾问会在下一个工作日联系您。"


class ValidateLeadForm(FormValidationAction):
    """Fill the lead's slots from what the visitor typed; prefill from the conversation."""

    def name(self) -> Text:
        return "validate_lead_form"

    async def extract_lead_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "lead_name":
            return {}
        text = _answer_text(tracker)
        return {"lead_name": re.sub(r"^(我(是|叫|姓)|叫我)", "", text).strip() or text} if text else {}

    async def extract_lead_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = tracker.latest_message.get("text") or ""
        match = PHONE_IN_TEXT.search(text)
        if match:  # a number anywhere in the form fills (or corrects) the phone
            return {"lead_phone": match.group(1)}
        if tracker.get_slot("requested_slot") == "lead_phone":
            answer = _answer_text(tracker)
            return {"lead_phone": answer} if answer else {}
        return {}

    async def extract_lead_company(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "lead_company":
            return {}
        text = _answer_text(tracker)
        return {"lead_company": text} if text else {}

    async def extract_lead_region(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") == "lead_region":
            text = _answer_text(tracker)  # what they typed: it may name the city too
            return {"lead_region": text} if text else {}
        if tracker.get_slot("lead_region") is None and tracker.get_slot("province"):
            return {"lead_region": tracker.get_slot("province")}
        return {}

    async def extract_lead_licence(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        entities = {e["entity"]: e["value"] for e in tracker.latest_message.get("entities") or []}
        if "licence_scope" in entities:
            return {"lead_licence": entities["licence_scope"]}
        if tracker.get_slot("lead_licence") is None and tracker.get_slot("licence_scope"):
            return {"lead_licence": tracker.get_slot("licence_scope")}
        if tracker.get_slot("requested_slot") == "lead_licence":
            intent = latest_intent(tracker)
            text = tracker.latest_message.get("text") or ""
            if intent == "deny" or UNSURE.search(text):
                return {"lead_licence": "不确定"}
        return {}

    async def extract_lead_note(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "lead_note":
            return {}
        intent = latest_intent(tracker)
        if intent == "deny":
            return {"lead_note": "无"}
        text = _answer_text(tracker)
        return {"lead_note": text} if text else {}

    def validate_lead_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        phone = leads.normalize_phone(value)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"lead_phone": phone}


def asked_topics(tracker: Tracker) -> List[str]:
    """The licence questions this conversation asked about, in order."""
    seen: List[str] = []
    for event in tracker.events:
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
            if intent.startswith("ask_") and intent != "ask_followup" and intent not in seen:
                seen.append(intent)
    return seen


# what a lead may hold: the form caps answers at 200 characters, the columns are narrower
LIMITS = {"lead_name": 100, "lead_company": 200, "lead_region": 100, "lead_note": 500}
LICENCES = ("全网", "地网", "不确定")
MAX_CONVERSATION_ID = 100
ALREADY_MANY = "您在这次对话中已经留过多次联系方式，顾问会尽快与您联系，无需重复提交。也可以继续问我许可证的问题。"
LEADS_PER_CONVERSATION = 5  # in DEDUPE_WINDOW; more is a script, not a visitor correcting a typo


def _text(value: Any, limit: int) -> Optional[str]:
    """A slot as stored text: a string trimmed to ``limit`` characters, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def checked_lead(tracker: Tracker) -> Optional[Dict[Text, Any]]:
    """The lead the slots describe, re-checked as the form would check it; None when they are not valid.

    The action server cannot tell a tracker Rasa sent from one somebody made
    up, so the phone, the consent and every length are checked again here.
    """
    phone = tracker.get_slot("lead_phone")
    phone = leads.normalize_phone(phone) if isinstance(phone, str) else None
    name = _text(tracker.get_slot("lead_name"), LIMITS["lead_name"])
    company = tracker.get_slot("lead_company")
    if phone is None or name is None or not isinstance(company, (str, type(None))):
        return None
    note = _text(tracker.get_slot("lead_note"), LIMITS["lead_note"])
    licence = tracker.get_slot("lead_licence")
    eligibility = tracker.get_slot("eligibility_summary")
    return {
        "name": name,
        "phone": phone,
        "company": _text(company, LIMITS["lead_company"]),
        "region": _text(tracker.get_slot("lead_region"), LIMITS["lead_region"]),
        "licence": licence if licence in LICENCES else None,
        "visitor_note": None if note == "无" else note,
        "eligibility": eligibility if isinstance(eligibility, str) else None,
    }


class ActionSubmitLead(Action):
    """Store the lead and queue staff notifications in one transaction."""

    def name(self) -> Text:
        return "action_submit_lead"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        config = settings.current()
        # name, phone and company stay known; consent is asked again for the next request
        reset = [SlotSet("lead_consent", None), SlotSet("lead_note", None)]
        if tracker.get_slot("lead_consent") is not True:  # the bool slot the form fills; nothing else
            dispatcher.utter_message(response="utter_lead_no_consent")
            return reset
        details = checked_lead(tracker)
        if details is None:
            logger.warning("lead form for %s… with invalid slots refused", str(tracker.sender_id)[:6])
            dispatcher.utter_message(response="utter_invalid_phone")
            return reset
        if len(tracker.sender_id) > MAX_CONVERSATION_ID:
            logger.warning("lead refused: conversation id longer than %s characters", MAX_CONVERSATION_ID)
            dispatcher.utter_message(response="utter_lead_not_saved", contact=config.consultant_contact)
            return reset
        try:
            with db.session_scope(config.database_url) as session:
                if leads.recent_leads(tracker.sender_id, session=session) >= LEADS_PER_CONVERSATION:
                    logger.warning(
                        "conversation %s… over %s leads a day: not stored",
                        str(tracker.sender_id)[:6],
                        LEADS_PER_CONVERSATION,
                    )
                    dispatcher.utter_message(text=ALREADY_MANY)
                    return reset
                topics = []
                for intent in asked_topics(tracker):
                    fact = facts.fact_for_intent(intent, session=session)
                    topics.append(fact.topic if fact else intent)
                channel = (tracker.get_latest_input_channel() or "rest")[:30]
                lead, created = leads.save_lead(
                    {
                        **details,
                        "conversation_id": tracker.sender_id,
                        "channel": channel,
                        "consent": True,
                        "topics": topics,
                    },
                    session=session,
                    hourly_limit=config.notify_max_per_hour,
                )
                name = lead.name
                logger.info(
                    "lead %s %s (%s)%s",
                    lead.id,
                    "created" if created else "updated",
                    leads.mask_phone(lead.phone),
                    f", possible duplicate of lead {lead.duplicate_of}" if lead.duplicate_of else "",
                )
        except SQLAlchemyError:
            logger.exception("could not store the lead")
            dispatcher.utter_message(response="utter_lead_not_saved", contact=config.consultant_contact)
            return []
        dispatcher.utter_message(
            response="utter_lead_saved", name=name, when=when_staff_call(dt.datetime.now(dt.timezone.utc), config)
        )
        return reset
