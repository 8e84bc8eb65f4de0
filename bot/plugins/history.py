"""Rasa 3.6's work over a conversation's whole history, kept from one prediction to the next.

Before every prediction each policy asks for the dialogue states of the whole
conversation (``Domain.states_for_tracker_history``): Rasa replays every event
into a fresh tracker and computes a state before each action, so a turn costs
more the longer the conversation (issue #24), though TED and memoization look
at the last five states only. Here the replay is kept on the tracker itself
(``bot/plugins/tracker_store.py`` hands the same tracker from turn to turn) and
continued with the new events only; the result is the same list Rasa computes.

- ``applied_events``: kept while the tracker's events only grow and name no
  new loop (a new loop name changes how earlier loop executions count; then
  everything is recomputed, as Rasa does);
- ``states_for_tracker_history``: the states before each action are kept with
  the replayed tracker; the state after the last event is computed afresh on
  every call, as callers change the last state (``_choose_last_user_input``);
- ``RulePolicy._get_possible_keys`` stops walking back through the states once
  it is past the longest rule: from there on every rule still possible stays
  possible (``_is_rule_applicable`` returns True beyond a rule's length). Its
  result depends only on those last states, and FAQ traffic repeats them: it is
  remembered per lookup and states (``RULE_KEYS`` of them, least recent dropped);
- ``RulePolicy._create_feature_key``: when no rule applies Rasa names the
  prediction's source by the JSON of every state, only to ask whether it is a
  rule that never occurs in stories; a conversation longer than each of those
  rules cannot be one, and gets a short name instead;
- ``MemoizationPolicy`` (``max_history`` unset: the whole conversation is its
  key) looks up the JSON of every state, and deep-copies them for a debug log,
  before every action; a conversation with more states than any remembered
  story cannot be found, so it is not looked up, and the copy is made only
  when debug logging is on;
- ``RulePolicy.format_tracker_states`` (a debug-log text of every state) is
  built only when debug logging is on;
- ``DialogueStateTracker.copy`` (before every action) copies the tracker's
  state instead of replaying every event into a new tracker.

Installed in the Rasa server by :func:`bot.plugins.patches.install`, never in training.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from operator import is_
from typing import Any, Dict, List, Optional, Set, Text, Tuple

APPLIED = "_callcentre_applied"  # attribute names on a DialogueStateTracker
STATES = "_callcentre_states"
STOCK: Dict[str, Any] = {}  # Rasa's own functions, as they were before install (the tests compare)
RULE_KEYS = 4096  # remembered rule look-ups per lookup table
LONG_CONVERSATION = "(a conversation longer than every rule)"


@dataclass
class _Applied:
    seen: list  # the tracker's events this was computed from
    loop_names: frozenset
    applied: list
    events: Any = None  # the tracker's event deque when ``seen`` was its whole content
    shrinks: int = 0  # times ``applied`` lost events (a revert, a restart): till then it only grew

    def current(self, events: Any) -> bool:
        """Whether ``events`` still begins with ``seen``."""
        count = len(self.seen)
        if events is self.events and len(events) >= count:
            # Rasa only ever appends to a tracker's deque: it still begins with ``seen`` if its element at the
            # end of ``seen`` is the same (a check in constant time, before every prediction)
            return count == 0 or events[count - 1] is self.seen[-1]
        return _same_start(self.seen, events)


@dataclass
class _Replay:
    """Rasa's ``states_for_tracker_history`` loop, stopped before the state after the last event."""

    tracker: Any  # the tracker replayed so far (``generate_all_prior_trackers``)
    applied: list = field(default_factory=list)
    source: Any = None  # the tracker's kept applied events (_Applied) and its shrinks when ``applied`` was read
    shrinks: int = 0
    states: list = field(default_factory=list)
    last_ml_action_sub_state: Any = None
    turn_was_hidden: bool = False


def _same_start(shorter: list, longer: Any) -> bool:
    """Whether ``longer`` (a list or deque) begins with the very objects of ``shorter``."""
    return len(longer) >= len(shorter) and all(map(is_, shorter, longer))


def applied_events(self: Any) -> List[Any]:
    """``DialogueStateTracker.applied_events``, continued from the last call on this tracker."""
    from rasa.shared.core.events import ActiveLoop

    events = self.events
    kept: Optional[_Applied] = self.__dict__.get(APPLIED)
    if kept is not None and kept.current(events):
        new = list(islice(events, len(kept.seen), None))
        if not any(isinstance(e, ActiveLoop) and e.name and e.name not in kept.loop_names for e in new):
            if _apply(self, new, kept.loop_names, kept.applied):
                kept.shrinks += 1
            kept.seen.extend(new)
            kept.events = events
            return list(kept.applied)
    seen = list(events)
    loop_names = frozenset(e.name for e in seen if isinstance(e, ActiveLoop) and e.name)
    applied: list = []
    _apply(self, seen, loop_names, applied)
    self.__dict__[APPLIED] = _Applied(seen, loop_names, applied, events)
    return list(applied)


def _apply(tracker: Any, events: list, loop_names: frozenset, applied: list) -> bool:
    """The loop of Rasa's ``applied_events`` over ``events``, extending ``applied`` in place; whether any of
    ``applied`` was taken back."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )

    shrunk = False
    for event in events:
        before = len(applied)
        if isinstance(event, (Restarted, SessionStarted)):
            applied.clear()
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
        shrunk = shrunk or len(applied) < before
    return shrunk


def _turn(
    domain: Any,
    replay: _Replay,
    hide_rule_turn: bool,
    omit_unset_slots: bool,
    ignore_rule_only_turns: bool,
    rule_only_data: Optional[Dict[Text, Any]],
) -> Tuple[Optional[dict], Any, bool]:
    """One pass of Rasa's loop body on ``replay.tracker``: (state or None if hidden, last ML action, hidden)."""
    from rasa.shared.core.constants import PREVIOUS_ACTION

    tr = replay.tracker
    last_ml = replay.last_ml_action_sub_state
    hidden = replay.turn_was_hidden
    if ignore_rule_only_turns:
        if not hidden:
            last_ml = domain._get_prev_action_sub_state(tr)
        if not tr.followup_action and tr.latest_action_name != tr.active_loop_name:
            hidden = hide_rule_turn
        if hidden:
            return None, last_ml, hidden
    state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if replay.states:
            domain._substitute_rule_only_user_input(state, replay.states[-1])
        if last_ml:
            state[PREVIOUS_ACTION] = last_ml
    return domain._clean_state(state), last_ml, hidden


def states_for_tracker_history(
    self: Any,
    tracker: Any,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: Optional[Dict[Text, Any]] = None,
) -> List[Dict[Text, Any]]:
    """``Domain.states_for_tracker_history``, continuing this tracker's replay from the previous call."""
    from rasa.shared.core.constants import USER
    from rasa.shared.core.events import ActionExecuted

    key = (id(self), omit_unset_slots, ignore_rule_only_turns, json.dumps(rule_only_data, sort_keys=True))
    replays: dict = tracker.__dict__.setdefault(STATES, {})
    applied = tracker.applied_events()
    replay: Optional[_Replay] = replays.get(key)
    source = tracker.__dict__.get(APPLIED)
    if replay is None or not (
        # the same kept applied events, which since then only grew: they still begin with the replayed ones
        (source is not None and replay.source is source and replay.shrinks == source.shrinks)
        or _same_start(replay.applied, applied)
    ):
        replay = replays[key] = _Replay(tracker.init_copy())
    for event in applied[len(replay.applied) :]:
        if isinstance(event, ActionExecuted):
            state, replay.last_ml_action_sub_state, replay.turn_was_hidden = _turn(
                self, replay, event.hide_rule_turn, omit_unset_slots, ignore_rule_only_turns, rule_only_data
            )
            if state is not None:
                replay.states.append(state)
        replay.tracker.update(event)
    replay.applied = applied
    replay.source, replay.shrinks = source, source.shrinks if source is not None else 0
    last, _, _ = _turn(self, replay, False, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    if last is None:
        return list(replay.states)
    user = last.get(USER)
    if user is not None and replay.states and user is replay.states[-1].get(USER):
        # callers change the last state's user part (_choose_last_user_input): not the kept state's
        last[USER] = dict(user)
    return [*replay.states, last]


def _longest_rule(policy: Any) -> int:
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

    keys = [*policy.lookup.get(RULES, {}), *policy.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})]
    return max((len(policy._rule_key_to_state(key)) for key in keys), default=0)


def _frozen(states: List[Dict[Text, Any]]) -> tuple:
    """``states`` as a hashable key (values in states are strings, numbers and tuples of them)."""
    return tuple(tuple(sorted((part, tuple(sorted(sub.items()))) for part, sub in state.items())) for state in states)


def get_possible_keys(self: Any, lookup: Dict[Text, Text], states: List[Dict[Text, Any]]) -> Set[Text]:
    """``RulePolicy._get_possible_keys``, walking back no further than the longest rule, remembered."""
    longest = self.__dict__.get("_callcentre_longest_rule")
    if longest is None:
        longest = self.__dict__["_callcentre_longest_rule"] = _longest_rule(self)
    recent = states[-longest:] if longest else []
    memo: OrderedDict = self.__dict__.setdefault("_callcentre_rule_keys", OrderedDict())
    try:
        key: Any = (id(lookup), _frozen(recent))
    except TypeError:  # a value that cannot be hashed: work it out, do not remember it
        key = None
    if key is not None and key in memo:
        memo.move_to_end(key)
        return set(memo[key])
    possible_keys = set(lookup.keys())
    for i, state in enumerate(reversed(recent)):  # every rule is shorter than ``recent``: the rest is True
        possible_keys = {rule for rule in possible_keys if self._is_rule_applicable(rule, i, state)}
    if key is not None:
        memo[key] = frozenset(possible_keys)
        while len(memo) > RULE_KEYS:
            memo.popitem(last=False)
    return possible_keys


def _states_in(key: Text) -> int:
    """The number of states a rule key names (0 for the names of Rasa's default and loop rules: not JSON)."""
    try:
        states = json.loads(key)
    except ValueError:
        return 0
    return len(states) if isinstance(states, list) else 0


def create_feature_key(self: Any, states: List[Dict[Text, Any]]) -> Optional[Text]:
    """``RulePolicy._create_feature_key``, short for a conversation longer than any rule not in stories."""
    from rasa.core.policies.rule_policy import RULES_NOT_IN_STORIES

    longest = self.__dict__.get("_callcentre_longest_unused_rule")
    if longest is None:
        unused = self.lookup.get(RULES_NOT_IN_STORIES, [])
        longest = max((_states_in(key) for key in unused), default=0)
        self.__dict__["_callcentre_longest_unused_rule"] = longest
    # Rasa keys the states after the last rule snippet ("..."): conversations have none, rules in training do
    recent = states[-(longest + 1) :]
    if len(states) > longest and not any(self._is_rule_snippet_state(state) for state in recent):
        return LONG_CONVERSATION  # its one use, `in lookup[RULES_NOT_IN_STORIES]`, is False either way
    return STOCK["create_feature_key"](self, states)


def _most_states(lookup: Dict[Text, Any]) -> int:
    """At least the number of states in any key of a memoization lookup (every state is written with a "{")."""
    import base64
    import zlib

    most = 0
    for key in lookup:
        text = key
        if not key.startswith("["):  # enable_feature_string_compression: base64 of zlib
            text = zlib.decompress(base64.b64decode(key)).decode("utf-8")
        most = max(most, text.count("{"))
    return most


def memo_feature_key(self: Any, states: List[Dict[Text, Any]]) -> Optional[Text]:
    """``MemoizationPolicy._create_feature_key``: no key at all for more states than any story has."""
    most = self.__dict__.get("_callcentre_most_states")
    if most is None:
        most = self.__dict__["_callcentre_most_states"] = _most_states(self.lookup)
    if len(states) > most:
        return LONG_CONVERSATION  # not a key of the lookup: recall finds nothing, as it would with the JSON
    return STOCK["memo_feature_key"](self, states)


def memo_predict(
    self: Any, tracker: Any, domain: Any, rule_only_data: Optional[Dict[Text, Any]] = None, **kwargs: Any
) -> Any:
    """``MemoizationPolicy.predict_action_probabilities``, deep-copying the states for the log only when it logs."""
    import copy

    result = self._default_predictions(domain)
    states = self._prediction_states(tracker, domain, rule_only_data=rule_only_data)
    if logging.getLogger("rasa.core.policies.memoization").isEnabledFor(logging.DEBUG):
        import structlog

        structlog.get_logger().debug("memoization.predict.actions", tracker_states=copy.deepcopy(states))
    predicted_action_name = self.recall(states, tracker, domain, rule_only_data=rule_only_data)
    log = logging.getLogger("rasa.core.policies.memoization")
    if predicted_action_name is not None:
        log.debug(f"There is a memorised next action '{predicted_action_name}'")
        result = self._prediction_result(predicted_action_name, tracker, domain)
    else:
        log.debug("There is no memorised next action")
    return self._prediction(result)


def copy_tracker(self: Any) -> Any:
    """``DialogueStateTracker.copy``: the same tracker Rasa's replay of every event gives, copied directly."""
    import copy

    new = self.init_copy()  # as Rasa's copy: no model_id, assistant_id or sender_source
    new.events = self._create_events(self.events)
    new.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
    new._paused = self._paused
    new.followup_action = self.followup_action
    new.latest_action = dict(self.latest_action) if self.latest_action is not None else None
    new.latest_message = self.latest_message
    new.latest_bot_utterance = self.latest_bot_utterance
    new.active_loop = copy.copy(self.active_loop)
    return new


def _debug_enabled() -> bool:
    return logging.getLogger("rasa.core.policies.rule_policy").isEnabledFor(logging.DEBUG)


def install() -> None:
    """Put the functions above in Rasa's place (idempotent)."""
    from rasa.core.policies.memoization import MemoizationPolicy
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    if getattr(Domain.states_for_tracker_history, "kept_history", False):
        return
    stock_format = RulePolicy.format_tracker_states
    STOCK.update(
        applied_events=DialogueStateTracker.applied_events,
        states_for_tracker_history=Domain.states_for_tracker_history,
        get_possible_keys=RulePolicy._get_possible_keys,
        create_feature_key=RulePolicy._create_feature_key,
        copy=DialogueStateTracker.copy,
        memo_feature_key=MemoizationPolicy._create_feature_key,
    )

    @functools.wraps(stock_format)
    def format_tracker_states(states: List[Dict]) -> Text:
        return stock_format(states) if _debug_enabled() else "(states are logged at debug level)"

    states_for_tracker_history.kept_history = True  # type: ignore[attr-defined]
    DialogueStateTracker.applied_events = applied_events
    Domain.states_for_tracker_history = states_for_tracker_history
    RulePolicy._get_possible_keys = get_possible_keys
    RulePolicy._create_feature_key = create_feature_key
    DialogueStateTracker.copy = copy_tracker
    MemoizationPolicy._create_feature_key = memo_feature_key
    MemoizationPolicy.predict_action_probabilities = memo_predict
    RulePolicy.format_tracker_states = staticmethod(format_tracker_states)
