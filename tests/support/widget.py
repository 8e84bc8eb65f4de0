"""A website visitor as the widget talks: a signed session from the web app, then Rasa's socket.io channel."""

from __future__ import annotations

import threading
import time

import requests
import socketio


class Visitor:
    """A widget visitor: Rasa's socket.io channel with session persistence."""

    def __init__(self, url: str, web_url: str):
        session = requests.post(f"{web_url}/api/session", timeout=10).json()  # as the widget gets it
        self.session_id, token = session["session_id"], session["token"]
        self.received: list[str] = []
        confirmed = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", lambda data: self.received.append(data.get("text") or ""))
        self.client.on("session_confirm", lambda *_: confirmed.set())
        self.client.connect(url, transports=["websocket"], socketio_path="/socket.io")
        self.client.emit("session_request", {"session_id": self.session_id, "token": token})
        assert confirmed.wait(10), "no session_confirm"

    def say(self, text: str):
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def wait_for(self, fragment: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in list(self.received):
                if fragment in text:
                    return text
            time.sleep(0.2)
        raise AssertionError(f"{fragment!r} never arrived; got {self.received}")
