"""A local stand-in for Rasa's HTTP API that records each request line."""

from __future__ import annotations

from tests.support.http import Answer, FakeEndpoint, Request

TOKEN = "rasa-secret-token-4f1c"


class FakeRasa(FakeEndpoint):
    """Records each raw request line (``paths``); answers ``status`` with a tracker of no events."""

    def __init__(self, status: int = 200):
        self.status = status
        self.paths: list[str] = []
        super().__init__(self._answer)

    def _answer(self, request: Request) -> Answer:
        self.paths.append(request.target)
        return self.status, {"events": []}
