"""A website visitor as the widget talks: a signed session from the web app, then Rasa's socket.io channel.

``Socket`` is any socket.io client on Rasa's channel (it sends whatever it is given and records what
arrives); ``Visitor`` is one that opened its session as the widget does. Messages on one socket arrive
in the order Rasa sent them, so a reply that arrives is a probe: whatever Rasa would have sent on that
socket before it has arrived too.
"""

from __future__ import annotations

import requests
import socketio

from tests.support.waiting import eventually


class Socket:
    """A socket.io client on Rasa's channel, recording every bot message and session confirmation."""

    def __init__(self, url: str, headers: dict | None = None):
        self.received: list[str] = []
        self.confirmed: list[object] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", lambda data: self.received.append((data or {}).get("text") or ""))
        self.client.on("session_confirm", lambda *data: self.confirmed.append(data[0] if data else None))
        self.client.connect(url, transports=["websocket"], socketio_path="/socket.io", headers=headers or {})

    def request(self, session_id: str, token: str | None = None, timeout: float = 10) -> bool:
        """Ask for ``session_id``'s room; True when Rasa confirms it, False when it answers with a refusal."""
        confirmed, answered = len(self.confirmed), len(self.received)
        self.client.emit("session_request", {"session_id": session_id, **({"token": token} if token else {})})
        eventually(lambda: len(self.confirmed) > confirmed or len(self.received) > answered, timeout)
        return len(self.confirmed) > confirmed

    def say(self, text: str, session_id: str) -> None:
        self.client.emit("user_uttered", {"message": text, "session_id": session_id})

    def wait_for(self, fragment: str, timeout: float = 30) -> str:
        """The first message received that contains ``fragment``, waiting for it if need be."""
        return eventually(lambda: next((text for text in list(self.received) if fragment in text), None), timeout)

    def wait_for_new(self, fragment: str, after: int, timeout: float = 30) -> str:
        """A message containing ``fragment`` among those received after the first ``after``."""
        return eventually(
            lambda: next((text for text in list(self.received)[after:] if fragment in text), None), timeout
        )

    def close(self) -> None:
        self.client.disconnect()


class Visitor(Socket):
    """A widget visitor: a session from the web app's /api/session, confirmed on Rasa's socket.io channel."""

    def __init__(self, url: str, web_url: str):
        session = requests.post(f"{web_url}/api/session", timeout=10).json()  # as the widget gets it
        self.session_id, self.token = session["session_id"], session["token"]
        super().__init__(url)
        assert self.request(self.session_id, self.token), "no session_confirm"

    def say(self, text: str, session_id: str | None = None) -> None:
        super().say(text, session_id or self.session_id)
