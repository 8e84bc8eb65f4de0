"""TED runs only when it can change the chosen action, and the chosen action is always Rasa's own choice."""

from __future__ import annotations

import random

import pytest
from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
from rasa.core.policies.policy import PolicyPrediction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.plugins import ted_gate
from bot.settings import PROJECT_ROOT

DOMAIN = Domain.load(str(PROJECT_ROOT / "bot" / "domain.yml"))


class Ted:
    """TEDPolicy as the gate sees it: its "no prediction" and whether it learnt from text."""

    fake_features: dict = {}

    def __init__(self, prediction: PolicyPrediction) -> None:
        self.prediction = prediction
        self.runs = 0

    def _default_predictions(self, domain: Domain) -> list:
        return [0.0] * domain.num_actions

    def _prediction(self, probabilities: list) -> PolicyPrediction:
        return PolicyPrediction(probabilities, "TEDPolicy", 1)


def predict(policy: Ted, *args, **kwargs) -> PolicyPrediction:
    policy.runs += 1
    return policy.prediction


def probabilities(rng: random.Random, sure: bool) -> list:
    values = [rng.random() * 0.9 for _ in range(DOMAIN.num_actions)]
    if sure:
        values[rng.randrange(DOMAIN.num_actions)] = 1.0
    return values


@pytest.fixture(scope="module")
def ensemble():
    ted_gate.install()
    ted_gate.install()  # idempotent
    return DefaultPolicyPredictionEnsemble.__new__(DefaultPolicyPredictionEnsemble)


@pytest.mark.parametrize("seed", range(200))
def test_the_chosen_action_is_the_same_as_with_ted_always_run(ensemble, seed, monkeypatch):
    monkeypatch.setitem(ted_gate.STOCK, "predict", predict)
    rng = random.Random(seed)
    rule = PolicyPrediction(
        probabilities(rng, rng.random() < 0.5), "RulePolicy", 6, is_no_user_prediction=rng.random() < 0.2
    )
    memo = PolicyPrediction(probabilities(rng, rng.random() < 0.3), "MemoizationPolicy", 3)
    ted = Ted(PolicyPrediction(probabilities(rng, rng.random() < 0.1), "TEDPolicy", 1))
    events = [ActionExecuted("action_listen"), UserUttered("你好", {"name": "greet"})]
    if rng.random() < 0.2:
        events.append(ActionExecutionRejected("action_answer_fact"))
    tracker = DialogueStateTracker.from_events("t", events, DOMAIN.slots)

    def copy(p):
        return PolicyPrediction(
            list(p.probabilities),
            p.policy_name,
            p.policy_priority,
            list(p.events),
            is_no_user_prediction=p.is_no_user_prediction,
        )

    stock = ted_gate.STOCK["combine"](
        ensemble, tracker, DOMAIN, rule=copy(rule), memo=copy(memo), ted=copy(ted.prediction)
    )
    gated = DefaultPolicyPredictionEnsemble.combine_predictions_from_kwargs(
        ensemble, tracker, DOMAIN, rule=copy(rule), memo=copy(memo), ted=ted_gate.Deferred(ted, (), {})
    )
    assert (gated.policy_name, gated.max_confidence_index) == (stock.policy_name, stock.max_confidence_index)
    settled = (rule.max_confidence >= 1.0 or memo.max_confidence >= 1.0 or rule.is_no_user_prediction) and not any(
        isinstance(e, ActionExecutionRejected) for e in events
    )
    assert ted.runs == (0 if settled else 1)
