"""What the actions read of the visitor's latest message, written once."""

from __future__ import annotations

from rasa_sdk import Tracker


def latest_intent(tracker: Tracker) -> str:
    """The intent NLU gave the visitor's latest message ("" when it has none)."""
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")
