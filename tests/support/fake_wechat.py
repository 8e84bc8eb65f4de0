"""A local stand-in for WeChat's API (token and customer-service messages) on 127.0.0.1."""

from __future__ import annotations

from tests.support.http import Answer, FakeEndpoint, Request


class FakeWeChat(FakeEndpoint):
    """Issues numbered access tokens and records customer-service messages (``sent``).

    ``fail_next_send_with`` makes the next send answer that errcode; ``unavailable_sends`` sends answer HTTP 503.
    """

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.sent: list[dict] = []
        self.fail_next_send_with: int | None = None
        self.unavailable_sends = 0
        super().__init__(self._answer)
        self.base = self.base + "/cgi-bin/"

    def _answer(self, request: Request) -> Answer:
        if request.method == "GET" and request.path == "/cgi-bin/token":
            with self.lock:
                self.tokens_issued += 1
                token = f"token-{self.tokens_issued}"
            return 200, {"access_token": token, "expires_in": 7200}
        if request.method == "POST" and request.path == "/cgi-bin/message/custom/send":
            with self.lock:
                if self.unavailable_sends > 0:
                    self.unavailable_sends -= 1
                    return 503, None
                if self.fail_next_send_with is not None:
                    code, self.fail_next_send_with = self.fail_next_send_with, None
                    return 200, {"errcode": code, "errmsg": "invalid credential"}
                self.sent.append({**request.json(), "access_token": request.query("access_token")})
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 200, {"errcode": 404, "errmsg": "not found"}
