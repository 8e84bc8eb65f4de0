"""The kept history gives the policies exactly what Rasa's own computation gives, turn after turn."""

from __future__ import annotations

import json
import random

import pytest
from rasa.core.policies.rule_policy import RULES, RulePolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.plugins import history
from bot.settings import PROJECT_ROOT

INTENTS = ["greet", "ask_fees", "ask_conditions", "inform", "affirm", "deny"]
ACTIONS = ["action_answer_fact", "utter_greet", "action_eligibility_start", "utter_default"]
FORM = "eligibility_form"


@pytest.fixture(scope="module")
def domain():
    history.install()
    history.install()  # idempotent
    return Domain.load(str(PROJECT_ROOT / "bot" / "domain.yml"))


def turn(rng: random.Random, domain: Domain) -> list:
    """One visitor turn with what Rasa logs around it: listen, message, actions, slots, forms, reverts."""
    intent = rng.choice(INTENTS)
    events: list = [
        UserUttered(
            f"消息{rng.randint(0, 9)}",
            {"name": intent, "confidence": 0.9},
            [{"entity": "scope", "value": rng.choice(["全网", "地网"])}] if rng.random() < 0.4 else [],
        ),
        DefinePrevUserUtteredFeaturization(False),
    ]
    kind = rng.random()
    if kind < 0.15:
        events += [ActionExecuted(FORM), ActiveLoop(FORM), SlotSet("requested_slot", "capital")]
    elif kind < 0.3:
        events += [ActionExecuted(FORM), SlotSet("requested_slot", None), ActiveLoop(None)]
    elif kind < 0.35:
        events += [UserUtteranceReverted()]
        return events
    elif kind < 0.4:
        events += [ActionExecuted("action_answer_fact"), ActionReverted()]
    elif kind < 0.42:
        events += [ActionExecuted("action_restart"), Restarted()]
    elif kind < 0.44:
        events += [ActionExecuted("action_session_start"), SessionStarted()]
    action = rng.choice(ACTIONS)
    events += [ActionExecuted(action, hide_rule_turn=rng.random() < 0.3), BotUttered("好的")]
    if action == "action_answer_fact":
        events.append(SlotSet("fact_key", rng.choice(["fees.amount", "conditions.all", None])))
    events.append(ActionExecuted("action_listen"))
    return events


def stock_states(domain, tracker, **flags):
    copy = DialogueStateTracker.from_events(tracker.sender_id, list(tracker.events), domain.slots)
    copy.applied_events = history.STOCK["applied_events"].__get__(copy)
    return history.STOCK["states_for_tracker_history"](domain, copy, **flags)


FLAGS = [
    {},
    {"omit_unset_slots": True},
    {"ignore_rule_only_turns": True, "rule_only_data": {"slots": ["requested_slot"], "loops": [FORM]}},
]


@pytest.mark.parametrize("seed", range(6))
def test_states_match_rasa_after_every_turn(domain, seed):
    rng = random.Random(seed)
    tracker = DialogueStateTracker.from_events(f"t{seed}", [ActionExecuted("action_listen")], domain.slots)
    for _ in range(40):
        for event in turn(rng, domain):
            tracker.update(event)
            if rng.random() < 0.3:  # predictions happen between any two events
                flags = rng.choice(FLAGS)
                assert json.dumps(domain.states_for_tracker_history(tracker, **flags), sort_keys=True) == json.dumps(
                    stock_states(domain, tracker, **flags), sort_keys=True
                )
        stock_applied = history.STOCK["applied_events"](tracker)
        assert tracker.applied_events() == stock_applied
        for flags in FLAGS:
            ours = domain.states_for_tracker_history(tracker, **flags)
            assert ours == stock_states(domain, tracker, **flags)


def test_the_last_state_can_be_changed_without_changing_the_next_call(domain):
    rng = random.Random(7)
    tracker = DialogueStateTracker.from_events("t", [ActionExecuted("action_listen")], domain.slots)
    for _ in range(10):
        for event in turn(rng, domain):
            tracker.update(event)
    flags = FLAGS[2]
    first = domain.states_for_tracker_history(tracker, **flags)
    for state in first:  # what _choose_last_user_input does to the last state, done to all of them
        state.get("user", {}).pop("intent", None)
    assert domain.states_for_tracker_history(tracker, **flags)[-1] == stock_states(domain, tracker, **flags)[-1]


def test_a_new_loop_name_recomputes_the_applied_events(domain):
    tracker = DialogueStateTracker.from_events("t", [ActionExecuted("action_listen")], domain.slots)
    for event in [UserUttered("hi", {"name": "greet"}), ActionExecuted(FORM), ActionExecuted(FORM)]:
        tracker.update(event)
    assert tracker.applied_events() == history.STOCK["applied_events"](tracker)
    tracker.update(ActiveLoop(FORM))  # now the earlier executions of the form count as one loop
    assert tracker.applied_events() == history.STOCK["applied_events"](tracker)


def test_rule_keys_are_the_same_when_the_walk_stops_early():
    policy = RulePolicy.__new__(RulePolicy)
    rules = [
        [{}, {"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}],
        [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "ask_fees"}}],
    ]
    policy.lookup = {RULES: {json.dumps(rule): "utter_greet" for rule in rules}}
    states = [{}] + [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "ask_fees"}}] * 30
    for end in range(1, len(states) + 1):
        assert history.get_possible_keys(policy, policy.lookup[RULES], states[:end]) == history.STOCK[
            "get_possible_keys"
        ](policy, policy.lookup[RULES], states[:end])


def tracker_state(tracker: DialogueStateTracker) -> dict:
    return {
        "state": tracker.current_state(EventVerbosity.ALL),
        "slots": {name: (slot.value, slot.has_been_set) for name, slot in tracker.slots.items()},
        "loop": tracker.active_loop,
        "latest": (tracker.latest_message, tracker.latest_bot_utterance, tracker.latest_action),
        "other": (tracker.model_id, tracker.assistant_id, tracker.sender_source, tracker.is_rule_tracker),
    }


@pytest.mark.parametrize("seed", range(6))
def test_a_copy_is_the_tracker_rasa_replays(domain, seed):
    rng = random.Random(seed)
    tracker = DialogueStateTracker.from_events(f"t{seed}", [ActionExecuted("action_listen")], domain.slots)
    tracker.model_id = "model"
    for _ in range(30):
        for event in turn(rng, domain):
            tracker.update(event)
        ours, stock = tracker.copy(), history.STOCK["copy"](tracker)
        assert tracker_state(ours) == tracker_state(stock)
        for copied in (ours, stock):  # what the processor does to its copy before an action: not to the tracker
            copied.update_with_events(
                [SlotSet("fact_key", "x", timestamp=1.0), ActiveLoop(FORM, timestamp=1.0)],
                domain,
                override_timestamp=False,
            )
        assert tracker_state(ours) == tracker_state(stock)
        assert len(tracker.events) == len(ours.events) - 2 and tracker.get_slot("fact_key") != "x"


def test_the_source_of_a_prediction_without_rule_is_short_only_when_no_rule_is_that_long():
    from rasa.core.policies.rule_policy import RULES_NOT_IN_STORIES

    policy = RulePolicy.__new__(RulePolicy)
    rule = [{}, {"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}]
    # Rasa also lists its default and loop rules there by name
    policy.lookup = {RULES_NOT_IN_STORIES: ["handling active loops and forms - form", json.dumps(rule, sort_keys=True)]}
    assert history.create_feature_key(policy, rule) in policy.lookup[RULES_NOT_IN_STORIES]
    assert history.create_feature_key(policy, [*rule, {}]) == history.LONG_CONVERSATION


def test_memoization_finds_no_story_longer_than_its_longest():
    from rasa.core.policies.memoization import MemoizationPolicy

    policy = MemoizationPolicy.__new__(MemoizationPolicy)
    policy.config = {"enable_feature_string_compression": False}
    story = [{}, {"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}]
    key = history.STOCK["memo_feature_key"](policy, story)
    policy.lookup = {key: "utter_greet"}
    assert policy._create_feature_key(story) == key
    longer = [*story, {"prev_action": {"action_name": "utter_greet"}}]
    assert policy._create_feature_key(longer) not in policy.lookup
    assert history.STOCK["memo_feature_key"](policy, longer) not in policy.lookup
