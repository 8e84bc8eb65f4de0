"""The widget's session ids and their signed tokens, shared by the web app and Rasa's public channels.

The web app issues a random id with ``token(secret, id)`` (HMAC-SHA256 with
WIDGET_SECRET, ``/api/session``); whoever holds both owns the conversation:
its history (web app), its socket.io room and its REST sender (Rasa). An id
alone, as seen in a notification or a log, opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time

from bot import settings as settings_module

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
HEADER = "X-Widget-Token"
DEVELOPMENT_SECRET = settings_module.PROJECT_ROOT / "var" / "widget.secret"


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
    """WIDGET_SECRET, or in development the one the web app keeps in var/widget.secret (created if missing)."""
    if config.widget_secret:
        return config.widget_secret
    path = DEVELOPMENT_SECRET
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        try:  # a link appears whole or not at all: if the web app got there first, its secret wins
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    for _ in range(50):  # the web app writes its copy after creating it: wait for the content
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it and restart, or set WIDGET_SECRET")
