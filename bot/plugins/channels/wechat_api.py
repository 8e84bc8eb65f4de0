"""The WeChat Official Account API as the channel uses it: a client whose token is shared, and sending text."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # wechatpy is imported with the WeChat channel, not with this module
    from wechatpy.client import WeChatClient
    from wechatpy.session import SessionStorage

UNDELIVERABLE = {45015, 45047, 43004, 40003}  # outside the 48 h window, too many, unsubscribed, bad openid


class Undeliverable(Exception):
    """WeChat refuses this message for good (e.g. 45015: the follower has been silent for 48 h)."""


_token_lock = threading.Lock()


def client(app_id: str, secret: str, api_base: str, session: SessionStorage) -> WeChatClient:
    """A WeChat API client keeping its access token in ``session`` (the database's, shared by every process)."""
    from wechatpy.client import WeChatClient

    class Client(WeChatClient):
        API_BASE_URL = api_base

        def fetch_access_token(self) -> dict[str, Any]:
            # called when the shared token is missing, near expiry, or refused (40001):
            # one fetch at a time in this process, the database shares the result
            with _token_lock:
                return self._fetch_access_token(
                    url=api_base + "token",
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                )

    return Client(app_id, secret, session=session, timeout=5)


def send_text(api: WeChatClient, openid: str, text: str) -> None:
    """Send one customer-service text message; raise Undeliverable for permanent refusals."""
    from wechatpy.exceptions import WeChatClientException

    try:
        api.message.send_text(openid, text)
    except WeChatClientException as exc:
        if exc.errcode in UNDELIVERABLE:  # errmsg is WeChat's text: keep the code only
            raise Undeliverable(f"errcode {exc.errcode}") from None
        raise  # wechatpy already refreshed the token once on 40001/42001; the caller retries
