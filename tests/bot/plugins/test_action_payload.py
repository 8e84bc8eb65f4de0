"""The action server gets a trimmed tracker: the actions read from it exactly what they read from the whole one."""

from __future__ import annotations

import json
import random

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker

from actions import answer, clarify, leads
from bot.plugins import action_payload
from bot.settings import PROJECT_ROOT
from tests.support.trackers import turn

DOMAIN = Domain.load(str(PROJECT_ROOT / "bot" / "domain.yml"))
INTENTS = ["ask_fees", "ask_conditions", "ask_followup", "greet", "ask_capital", "inform"]
ENTITIES = [[], [{"entity": "licence_scope", "value": "全网"}], [{"entity": "company_type", "value": "外资"}]]


def conversation(seed: int, turns: int) -> DialogueStateTracker:
    rng = random.Random(seed)
    tracker = DialogueStateTracker.from_events(f"c{seed}", [ActionExecuted("action_listen")], DOMAIN.slots)
    for number in range(turns):
        for event in turn(f"问题{number}", intent=rng.choice(INTENTS), entities=rng.choice(ENTITIES)):
            tracker.update(event)
        if rng.random() < 0.2:  # the bot said it was unsure
            tracker.update(BotUttered("您是想问…", metadata={"utter_action": "utter_clarify"}))
        if rng.random() < 0.05:
            tracker.update(SessionStarted())
    for event in turn("最后一个问题", ("fact_key", "fees.amount"), "ask_fees", ENTITIES[1])[:-1]:
        tracker.update(event)  # the current turn: the action runs before the bot listens again
    tracker.update(SlotSet("capital", "2000万"))
    return tracker


def as_sdk(state: dict) -> Tracker:
    state = json.loads(json.dumps(state))  # what travels over HTTP
    return Tracker.from_dict(state)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("turns", [0, 1, 2, 5, 60])
def test_the_actions_read_the_same_from_the_trimmed_tracker(seed, turns):
    tracker = conversation(seed, turns)
    whole = as_sdk(tracker.current_state(EventVerbosity.ALL))
    action_payload.install()
    action_payload.install()  # idempotent
    call = RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))
    payload = call._action_call_format(tracker, DOMAIN)
    trimmed = as_sdk(payload["tracker"])
    assert answer.earlier_entities(trimmed) == answer.earlier_entities(whole)
    assert leads.asked_topics(trimmed) == leads.asked_topics(whole)
    assert clarify.failed_just_before(trimmed) == clarify.failed_just_before(whole)
    assert trimmed.slots_to_validate() == whole.slots_to_validate()
    assert trimmed.get_latest_input_channel() == whole.get_latest_input_channel()
    assert trimmed.latest_message == whole.latest_message
    assert trimmed.slots == whole.slots and trimmed.active_loop == whole.active_loop
    assert payload["domain"] == DOMAIN.as_dict()


def test_a_long_conversation_sends_a_small_tracker():
    tracker = conversation(1, 300)
    payload = RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))
    action_payload.install()
    sent = len(json.dumps(payload._action_call_format(tracker, DOMAIN)["tracker"]))
    whole = len(json.dumps(tracker.current_state(EventVerbosity.ALL)))
    assert sent < whole / 3


def test_turn_after_turn_the_kept_older_part_gives_what_trimming_anew_gives():
    action_payload.install()
    call = RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))
    rng = random.Random(3)
    tracker = conversation(3, 0)
    for number in range(40):
        for event in turn(f"又一个{number}", intent=rng.choice(INTENTS), entities=rng.choice(ENTITIES)):
            tracker.update(event)
        copied = tracker.copy()  # what Rasa's processor hands an action
        sent = call._action_call_format(copied, DOMAIN)["tracker"]["events"]
        assert sent == action_payload.action_events(list(tracker.events))  # anew, without the kept part
        whole = as_sdk(tracker.current_state(EventVerbosity.ALL))
        assert answer.earlier_entities(as_sdk({**tracker.current_state(), "events": sent})) == answer.earlier_entities(
            whole
        )


def test_the_domain_encoded_once_is_the_same_json():
    payload = RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))
    action_payload.install()
    body = payload._action_call_format(conversation(2, 3), DOMAIN)
    assert json.loads(action_payload.dumps(body)) == json.loads(json.dumps(body))
    assert json.loads(action_payload.dumps({"domain": body["domain"]})) == {"domain": DOMAIN.as_dict()}
    assert action_payload.dumps({"a": 1}) == json.dumps({"a": 1})


def test_the_older_events_encoded_once_are_the_same_json():
    action_payload.install()
    call = RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))
    tracker = conversation(5, 30)
    for _ in range(2):  # the second time from the kept part
        body = call._action_call_format(tracker.copy(), DOMAIN)
        assert json.loads(action_payload.dumps(body)) == json.loads(json.dumps(body))
