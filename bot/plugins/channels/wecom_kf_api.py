"""A thin client of the 微信客服 (WeCom KF) API over wechatpy 1.8.18's enterprise client.

wechatpy has no KF wrappers in 1.8.18, but its enterprise client keeps the access token (here in the
shared database, so every process uses one) and speaks JSON. Its own retry after a refused token is
switched off: it would retry for ever while WeCom keeps refusing; this client fetches a new token once
on 40001/40014/42001 and retries once. Errors carry WeCom's errcode and the call's name only: WeCom's
errmsg, the URL and the token never reach a log or a response.

Synchronous (requests): the channel calls it in an executor.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any, Optional

import requests

from bot.store import wechat as wechat_store

if TYPE_CHECKING:
    from wechatpy.enterprise import WeChatClient

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid credential, invalid token, expired token
# a session's service_state: what ``state`` returns and ``trans`` moves a session to (0: new, not yet handled)
STATE_BOT, STATE_QUEUED, STATE_SERVING, STATE_ENDED = 1, 2, 3, 4
TIMEOUT = 10
_token_lock = threading.Lock()


def mask(external_userid: str) -> str:
    """A visitor's id as logs show it."""
    return external_userid[:6] + "…" if external_userid else ""


class KFError(Exception):
    """A KF API call failed: ``errcode`` is WeCom's (None when no answer came); the text is safe to log."""

    def __init__(self, call: str, errcode: Optional[int], kind: str = "") -> None:
        self.call, self.errcode = call, errcode
        super().__init__(f"{call}: errcode {errcode}" if errcode is not None else f"{call}: {kind or 'no answer'}")


class KFApi:
    """The KF calls the channel makes, with one shared token."""

    def __init__(self, corp_id: str, secret: str, api_base: str, database_url: str) -> None:
        self.corp_id, self.secret, self.api_base, self.database_url = corp_id, secret, api_base, database_url
        self._client: Optional[WeChatClient] = None

    def client(self) -> WeChatClient:
        if self._client is None:
            from wechatpy.enterprise import WeChatClient

            api_base, key = self.api_base, hashlib.sha256(f"{self.corp_id}:{self.secret}".encode()).hexdigest()[:16]

            class Client(WeChatClient):
                API_BASE_URL = api_base

                @property
                def access_token_key(self) -> str:  # wechatpy's default holds the secret's first characters
                    return f"wecom_kf_{key}_access_token"

                def fetch_access_token(self) -> dict[str, Any]:
                    with _token_lock:  # one fetch at a time in this process; the database shares the result
                        return self._fetch_access_token(
                            url=api_base + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
                        )

            self._client = Client(
                self.corp_id,
                self.secret,
                session=wechat_store.SqlSessionStorage(self.database_url),
                timeout=TIMEOUT,
                auto_retry=False,
            )
        return self._client

    def call(self, endpoint: str, data: Optional[dict[str, Any]] = None, method: str = "post") -> dict[str, Any]:
        """Call ``endpoint`` (e.g. ``kf/sync_msg``); a refused token is renewed once. Raises KFError."""
        from wechatpy.exceptions import WeChatClientException

        for attempt in (1, 2):
            failure: Optional[KFError] = None
            try:
                client = self.client()
                if method == "get":
                    result = client.get(endpoint, params=dict(data or {}))
                else:
                    result = client.post(endpoint, data=data or {})
            except WeChatClientException as exc:
                code = exc.errcode
                if code in TOKEN_ERRORS and attempt == 1:
                    client.session.delete(client.access_token_key)
                    client.expires_at = None
                    continue
                failure = KFError(endpoint, int(code) if code is not None else None, "HTTP error")
            except (requests.RequestException, ValueError) as exc:  # its text holds the URL and the token
                failure = KFError(endpoint, None, type(exc).__name__)
            if failure is not None:
                raise failure  # outside the except block: the original (with its URL) is not chained
            if not isinstance(result, dict):
                raise KFError(endpoint, None, "not JSON")
            return result
        raise KFError(endpoint, None, "token refused twice")

    # ---------- the calls

    def sync_msg(self, open_kfid: str, cursor: Optional[str], token: Optional[str], limit: int = 1000) -> dict:
        data: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit, "voice_format": 0}
        if cursor:
            data["cursor"] = cursor
        if token:
            data["token"] = token
        return self.call("kf/sync_msg", data)

    def send_msg(self, touser: str, open_kfid: str, msgid: str, message: dict[str, Any]) -> dict:
        return self.call("kf/send_msg", {"touser": touser, "open_kfid": open_kfid, "msgid": msgid, **message})

    def send_on_event(self, code: str, msgid: str, message: dict[str, Any]) -> dict:
        return self.call("kf/send_msg_on_event", {"code": code, "msgid": msgid, **message})

    def state(self, open_kfid: str, external_userid: str) -> tuple[int, Optional[str]]:
        result = self.call("kf/service_state/get", {"open_kfid": open_kfid, "external_userid": external_userid})
        return int(result.get("service_state") or 0), result.get("servicer_userid") or None

    def trans(self, open_kfid: str, external_userid: str, state: int, servicer: Optional[str] = None) -> str:
        """Move the session to ``state``; returns the msg_code for one message ("" if none)."""
        data: dict[str, Any] = {"open_kfid": open_kfid, "external_userid": external_userid, "service_state": state}
        if servicer:
            data["servicer_userid"] = servicer
        return str(self.call("kf/service_state/trans", data).get("msg_code") or "")

    def servicers(self, open_kfid: str) -> list[dict[str, Any]]:
        return list(self.call("kf/servicer/list", {"open_kfid": open_kfid}, method="get").get("servicer_list") or [])

    def accounts(self) -> list[dict[str, Any]]:
        found, offset = [], 0
        while True:
            page = list(self.call("kf/account/list", {"offset": offset, "limit": 100}).get("account_list") or [])
            found.extend(page)
            if len(page) < 100:
                return found
            offset += 100

    def contact_way(self, open_kfid: str, scene: str) -> str:
        return str(self.call("kf/add_contact_way", {"open_kfid": open_kfid, "scene": scene}).get("url") or "")
