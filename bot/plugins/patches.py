"""Performance fixes for Rasa 3.6, installed in the Rasa server by the channels' guard.

``install`` puts in place the prebuilt validator below, the kept history of
bot/plugins/history.py, the trimmed action-server calls of
bot/plugins/action_payload.py, the parse cache of bot/plugins/nlu_cache.py and
TED's deferral of bot/plugins/ted_gate.py: every reply is unchanged, only the
work per turn is (issue #24).

Rasa validates every action-server response with ``jsonschema.validate``,
which checks the schema itself against the 2020-12 meta-schema on every call:
55 ms of CPU per custom action on these machines, the largest single cost of
a turn under load (py-spy, ``make bench``). The same validation with a
validator built once takes about 1 ms. Behaviour is unchanged: an invalid
response still raises ``ValidationError`` with Rasa's message.
"""

from __future__ import annotations

from typing import Any, Dict, Text

DOCS = "https://rasa.com/docs/rasa/custom-actions"


def install() -> None:
    """Install every performance fix in this process (idempotent)."""
    from bot.plugins import action_payload, history, nlu_cache, ted_gate

    history.install()
    action_payload.install()
    nlu_cache.install()
    ted_gate.install()
    install_validator()


def install_validator() -> None:
    """Replace ``RemoteAction._validate_action_result`` with one using a prebuilt validator (idempotent)."""
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "prebuilt_validator", False):
        return
    spec = RemoteAction.action_response_format_spec()
    validator = validators.validator_for(spec)(spec)

    def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response from the "
                f"Action endpoint is valid. For more information about the format visit {DOCS}"
            )
            raise

    # the marker that makes install() idempotent; functions take attributes, mypy does not model that
    _validate_action_result.prebuilt_validator = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result
