"""Run TEDPolicy only when its prediction can decide the next action.

Rasa 3.6 runs every policy before every action and then picks the prediction
with the highest confidence, the policy's priority breaking ties
(``DefaultPolicyPredictionEnsemble._pick_best_policy``). TED has the lowest
priority and no confidence above 1.0, so when the rules or memoization are
sure (confidence 1.0), or a rule predicts without user input (a form's happy
path, which overrules every prediction based on user input), TED's prediction
cannot win and Rasa only adds its events, which TED leaves empty when it was
not trained on text (end-to-end stories). In the project most turns are
decided by rules, and TED's TensorFlow call was a fifth of a turn (issue #24).

So TED's node returns a deferred prediction, and the ensemble runs TED only
if no other prediction settles the choice; otherwise TED's place holds its
"no prediction" (all zeros), which cannot win. An action the bot was refused
(``ActionExecutionRejected``) zeroes that action's confidence in every
prediction, so then TED always runs. Installed in the Rasa server only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Text

# Rasa's TEDPolicy.predict_action_probabilities ("predict") and the ensemble's combine_predictions_from_kwargs
# ("combine"), kept by install
STOCK: Dict[str, Callable[..., Any]] = {}


@dataclass
class Deferred:
    """TED's prediction, not computed yet: the policy and the arguments it was called with."""

    policy: Any
    args: tuple
    kwargs: Dict[Text, Any]

    def run(self) -> Any:
        return STOCK["predict"](self.policy, *self.args, **self.kwargs)

    def empty(self, domain: Any) -> Any:
        """TED's own prediction when it has nothing to say: every confidence 0."""
        return self.policy._prediction(self.policy._default_predictions(domain))


def can_decide(policy: Any) -> bool:
    """Whether ``policy`` (TED) may win against a sure prediction: only by predicting from text."""
    from rasa.shared.nlu.constants import TEXT

    return TEXT in policy.fake_features


def settled(predictions: list, tracker: Any) -> bool:
    """Whether TED's prediction cannot change which of ``predictions`` wins."""
    from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected

    last_action = next(
        (e for e in reversed(tracker.events) if isinstance(e, (ActionExecutionRejected, ActionExecuted))), None
    )
    if isinstance(last_action, ActionExecutionRejected):
        return False
    return any(p.is_no_user_prediction or p.max_confidence >= 1.0 for p in predictions)


def install() -> None:
    """Defer TED's prediction to the ensemble, which runs it only when it can matter (idempotent)."""
    from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.core.policies.ted_policy import TEDPolicy

    if getattr(TEDPolicy.predict_action_probabilities, "deferred", False):
        return
    STOCK["predict"] = TEDPolicy.predict_action_probabilities
    STOCK["combine"] = DefaultPolicyPredictionEnsemble.combine_predictions_from_kwargs

    def predict_action_probabilities(self: Any, *args: Any, **kwargs: Any) -> Any:
        if can_decide(self):
            return STOCK["predict"](self, *args, **kwargs)
        return Deferred(self, args, kwargs)

    def combine_predictions_from_kwargs(self: Any, tracker: Any, domain: Any, **kwargs: Any) -> PolicyPrediction:
        others = [value for value in kwargs.values() if isinstance(value, PolicyPrediction)]
        skip = settled(others, tracker)
        resolved = {
            name: (value.empty(domain) if skip else value.run()) if isinstance(value, Deferred) else value
            for name, value in kwargs.items()
        }
        return STOCK["combine"](self, tracker, domain, **resolved)

    predict_action_probabilities.deferred = True  # type: ignore[attr-defined]
    TEDPolicy.predict_action_probabilities = predict_action_probabilities
    DefaultPolicyPredictionEnsemble.combine_predictions_from_kwargs = combine_predictions_from_kwargs
