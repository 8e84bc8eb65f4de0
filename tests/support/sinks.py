"""A local JSON webhook receiving the notifier's lead notifications."""

from __future__ import annotations

from tests.support.http import Answer, FakeEndpoint, Request


class WebhookSink(FakeEndpoint):
    """Receives lead notifications on 127.0.0.1; answers 503 while ``failing`` > 0. Serves from creation."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.failing = 0
        super().__init__(self._answer, path="/leads")

    def _answer(self, request: Request) -> Answer:
        with self.lock:
            if self.failing > 0:
                self.failing -= 1
                return 503, None
        self.received.append({"body": request.json(), "idempotency_key": request.headers.get("Idempotency-Key")})
        return 200, None
