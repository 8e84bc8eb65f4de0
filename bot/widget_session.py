"""The widget's session ids and their signed tokens, shared by the web app and Rasa's public channels.

The web app issues a random id with ``token(secret, id)`` (HMAC-SHA256 with
WIDGET_SECRET, ``/api/session``); whoever holds both owns the conversation:
its history (web app), its socket.io room and its REST sender (Rasa). An id
alone, as seen in a notification or a log, opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from bot import settings as settings_module

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
HEADER = "X-Widget-Token"


def token(secret: str, session_id: str) -> str:
    """Sign a session id."""
    return hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).hexdigest()


def valid(secret: str, session_id: object, offered: object) -> bool:
    """Whether ``offered`` is the token of ``session_id``; any type or text is answered, never raised."""
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id) or not isinstance(offered, str):
        return False
    # bytes: compare_digest refuses non-ASCII str, and a visitor's token may be anything
    return hmac.compare_digest(offered.encode("utf-8", "replace"), token(secret, session_id).encode())


def secret(config: settings_module.Settings) -> str:
    """WIDGET_SECRET, or in development the checkout's own (var/widget.secret), the same in every process."""
    return config.widget_secret or settings_module.development_secret("widget")
