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
  possible (``_is_rule_applicable`` returns True beyond a rule's length);
- ``RulePolicy.format_tracker_states`` (a debug-log text of every state) is
  built only when debug logging is on.

Installed in the Rasa server by :func:`bot.plugins.patches.install`, never in training.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from itertools import islice
from operator import is_
from typing import Any, Dict, List, Optional, Set, Text, Tuple

APPLIED = "_callcentre_applied"  # attribute names on a DialogueStateTracker
STATES = "_callcentre_states"
STOCK: Dict[str, Any] = {}  # Rasa's own functions, as they were before install (the tests compare)


@dataclass
class _Applied:
    seen: list  # the tracker's events this was computed from
    loop_names: frozenset
    applied: list


@dataclass
class _Replay:
    """Rasa's ``states_for_tracker_history`` loop, stopped before the state after the last event."""

    tracker: Any  # the tracker replayed so far (``generate_all_prior_trackers``)
    applied: list = field(default_factory=list)
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
    if kept is not None and _same_start(kept.seen, events):
        new = list(islice(events, len(kept.seen), None))
        if not any(isinstance(e, ActiveLoop) and e.name and e.name not in kept.loop_names for e in new):
            _apply(self, new, kept.loop_names, kept.applied)
            kept.seen.extend(new)
            return list(kept.applied)
    seen = list(events)
    loop_names = frozenset(e.name for e in seen if isinstance(e, ActiveLoop) and e.name)
    applied: list = []
    _apply(self, seen, loop_names, applied)
    self.__dict__[APPLIED] = _Applied(seen, loop_names, applied)
    return list(applied)


def _apply(tracker: Any, events: list, loop_names: frozenset, applied: list) -> None:
    """The loop of Rasa's ``applied_events`` over ``events``, extending ``applied`` in place."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )

    for event in events:
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
    if replay is None or not _same_start(replay.applied, applied):
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


def get_possible_keys(self: Any, lookup: Dict[Text, Text], states: List[Dict[Text, Any]]) -> Set[Text]:
    """``RulePolicy._get_possible_keys``, walking back no further than the longest rule."""
    longest = self.__dict__.get("_callcentre_longest_rule")
    if longest is None:
        longest = self.__dict__["_callcentre_longest_rule"] = _longest_rule(self)
    possible_keys = set(lookup.keys())
    for i, state in enumerate(reversed(states)):
        if i >= longest:  # every rule is shorter: _is_rule_applicable is True for all that are left
            break
        possible_keys = {key for key in possible_keys if self._is_rule_applicable(key, i, state)}
    return possible_keys


def _debug_enabled() -> bool:
    return logging.getLogger("rasa.core.policies.rule_policy").isEnabledFor(logging.DEBUG)


def install() -> None:
    """Put the functions above in Rasa's place (idempotent)."""
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
    )

    @functools.wraps(stock_format)
    def format_tracker_states(states: List[Dict]) -> Text:
        return stock_format(states) if _debug_enabled() else "(states are logged at debug level)"

    states_for_tracker_history.kept_history = True  # type: ignore[attr-defined]
    DialogueStateTracker.applied_events = applied_events
    Domain.states_for_tracker_history = states_for_tracker_history
    RulePolicy._get_possible_keys = get_possible_keys
    RulePolicy.format_tracker_states = staticmethod(format_tracker_states)
