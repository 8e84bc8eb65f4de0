"""The action-response validation fix keeps Rasa's behaviour."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.plugins import patches as rasa_patches


@pytest.fixture(scope="module")
def action():
    rasa_patches.install()
    rasa_patches.install()  # idempotent
    return RemoteAction("action_answer_fact", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_valid_responses_pass(action):
    assert action._validate_action_result(
        {
            "events": [{"event": "slot", "name": "fact_key", "value": "licence.types", "timestamp": None}],
            "responses": [{"text": "全网和地网……", "buttons": [{"title": "申请条件", "payload": "/ask_conditions"}]}],
        }
    )
    assert action._validate_action_result({"events": [], "responses": []})


@pytest.mark.parametrize(
    "result",
    [
        {"events": [{"name": "no event type"}], "responses": []},
        {"events": "not a list", "responses": []},
    ],
)
def test_invalid_responses_still_raise_with_rasas_message(action, result):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(result)
