"""A stateful stand-in for the 微信客服 (WeCom KF) API on 127.0.0.1, and the callbacks WeCom would send.

What it keeps and enforces (the shape is in ../shared/channels/wecom-kf.md):
- ``gettoken`` with expiry; tokens can be expired or refused (40014/42001) on demand;
- per KF account a message log read by ``sync_msg`` with an opaque cursor, ``limit``, ``has_more`` (and
  empty pages that still say ``has_more`` when asked), the 3-day window, callback tokens that expire
  (95007); messages sent through the API are never in it;
- ``send_msg``: state 0/1 only (95018), 48 h since the visitor's last message (95002), 5 messages after it
  (95001), 2048 bytes of text, ≤ 10 menu items (95008); a msgid sent before is not delivered again;
  ``fail_next_delivery`` makes WeChat report a sent message failed (``msg_send_fail``) afterwards;
- ``send_msg_on_event``: single-use codes (the welcome's for 20 s, the ones ``trans`` returns);
- the service-state machine (95016 for a move WeCom refuses, 95014 for a servicer not receiving),
  ``servicer/list``, ``account/list``, ``add_contact_way``.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any, Optional
from urllib.parse import parse_qs, quote, urlparse

from wechatpy.enterprise.crypto import WeChatCrypto

from tests.support.http import Answer, FakeEndpoint, Request

KF = {
    "WECOM_KF_CORP_ID": "ww0123456789abcdef",
    "WECOM_KF_SECRET": "kf-test-secret",
    "WECOM_KF_TOKEN": "kfTestToken42",
    "WECOM_KF_AES_KEY": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
}
CRYPTO = WeChatCrypto(KF["WECOM_KF_TOKEN"], KF["WECOM_KF_AES_KEY"], KF["WECOM_KF_CORP_ID"])
MOVES = {0: {1, 2, 3, 4}, 1: {2, 3, 4}, 2: {3, 4}, 3: {3, 4}, 4: set()}
THREE_DAYS = 3 * 24 * 3600


def visitor() -> str:
    return "wm" + uuid.uuid4().hex[:24]


class FakeWeComKF(FakeEndpoint):
    """The KF API's state and rules, served on 127.0.0.1 (``base`` is its /cgi-bin/ address)."""

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}  # access token -> expiry
        self.tokens_issued = 0
        self.refuse_next_token_with: Optional[int] = None
        self.accounts: dict[str, dict[str, Any]] = {}
        self.log: dict[str, list[dict[str, Any]]] = {}
        self.sync_tokens: dict[str, float] = {}
        self.empty_pages: dict[str, int] = {}  # open_kfid -> empty pages (has_more) before the next real one
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.servicer_list: dict[str, list[dict[str, Any]]] = {}
        self.sent: list[dict[str, Any]] = []  # delivered: send_msg and send_msg_on_event
        self.refused: list[dict[str, Any]] = []  # (call, errcode, body)
        self.sent_ids: set[tuple[str, str]] = set()
        self.codes: dict[str, dict[str, Any]] = {}
        self.fail_next: Optional[int] = None
        self.sync_calls: list[dict[str, Any]] = []
        self.contact_ways: list[dict[str, Any]] = []
        self.unavailable = 0  # this many calls answer HTTP 503
        self.next_id = 0
        super().__init__(self._answer)
        self.base = self.base + "/cgi-bin/"

    def _answer(self, request: Request) -> Answer:
        query = {k: v[0] for k, v in parse_qs(urlparse(request.target).query).items()}
        body = (request.json() if request.body else {}) if request.method == "POST" else query
        with self.lock:
            if self.unavailable > 0:
                self.unavailable -= 1
                return 503, None
            return 200, self.handle(request.path.removeprefix("/cgi-bin/"), query, body)

    # ---------- the API

    def handle(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if path == "gettoken":
            if query.get("corpid") != KF["WECOM_KF_CORP_ID"] or query.get("corpsecret") != KF["WECOM_KF_SECRET"]:
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            self.tokens_issued += 1
            token = f"kft{self.tokens_issued}-" + uuid.uuid4().hex[:8]
            self.tokens[token] = time.time() + 7200
            return {"errcode": 0, "access_token": token, "expires_in": 7200}
        token = query.get("access_token", "")
        if self.refuse_next_token_with is not None:
            code, self.refuse_next_token_with = self.refuse_next_token_with, None
            return {"errcode": code, "errmsg": f"invalid access_token {token} hint: secret leak"}
        if token not in self.tokens:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        if self.tokens[token] < time.time():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        handler = {
            "kf/sync_msg": self._sync,
            "kf/send_msg": self._send,
            "kf/send_msg_on_event": self._send_on_event,
            "kf/service_state/get": self._state_get,
            "kf/service_state/trans": self._trans,
            "kf/servicer/list": self._servicers,
            "kf/account/list": self._accounts,
            "kf/add_contact_way": self._contact_way,
        }.get(path)
        if handler is None:
            return {"errcode": 404, "errmsg": "no such api"}
        return handler(body)

    def _sync(self, body: dict[str, Any]) -> dict[str, Any]:
        open_kfid = body.get("open_kfid", "")
        self.sync_calls.append(dict(body))
        if open_kfid not in self.accounts:
            return {"errcode": 95000, "errmsg": "invalid open_kfid"}
        token = body.get("token")
        if token and self.sync_tokens.get(token, 0) < time.time():
            return {"errcode": 95007, "errmsg": "invalid msg token"}
        if self.empty_pages.get(open_kfid):
            self.empty_pages[open_kfid] -= 1
            return {"errcode": 0, "next_cursor": body.get("cursor") or _cursor(0), "has_more": 1, "msg_list": []}
        log = self.log[open_kfid]
        start = _position(body.get("cursor"))
        if start is None:
            oldest = time.time() - THREE_DAYS
            start = next((i for i, m in enumerate(log) if m["send_time"] >= oldest), len(log))
        limit = max(1, min(int(body.get("limit") or 1000), 1000))
        page = log[start : start + limit]
        end = start + len(page)
        return {"errcode": 0, "next_cursor": _cursor(end), "has_more": int(end < len(log)), "msg_list": page}

    def _refuse(self, call: str, code: int, body: dict[str, Any]) -> dict[str, Any]:
        self.refused.append({"call": call, "errcode": code, "body": body})
        return {"errcode": code, "errmsg": f"refused, see https://open.work.weixin.qq.com/devtool/query?e={code}"}

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        open_kfid, user, msgid = body.get("open_kfid", ""), body.get("touser", ""), str(body.get("msgid") or "")
        if open_kfid not in self.accounts:
            return self._refuse("send_msg", 95000, body)
        if msgid and (open_kfid, msgid) in self.sent_ids:
            return {"errcode": 0, "msgid": msgid}  # the same msgid again: WeChat does not deliver it twice
        session = self._session(open_kfid, user)
        if session["state"] not in (0, 1):
            return self._refuse("send_msg", 95018, body)
        last = session.get("last_customer_at")
        if last is None or time.time() - last > 48 * 3600:
            return self._refuse("send_msg", 95002, body)
        if session["sent_since"] >= 5:
            return self._refuse("send_msg", 95001, body)
        problem = _body_problem(body)
        if problem:
            return self._refuse("send_msg", problem, body)
        session["sent_since"] += 1
        return self._deliver(body, open_kfid, user, msgid)

    def _deliver(self, body: dict[str, Any], open_kfid: str, user: str, msgid: str) -> dict[str, Any]:
        msgid = msgid or uuid.uuid4().hex
        self.sent_ids.add((open_kfid, msgid))
        self.sent.append({**body, "touser": user, "open_kfid": open_kfid, "msgid": msgid})
        if self.fail_next is not None:  # WeChat accepted it, and reports later that it never arrived
            fail_type, self.fail_next = self.fail_next, None
            self._event(
                open_kfid,
                {"event_type": "msg_send_fail", "external_userid": user, "fail_msgid": msgid, "fail_type": fail_type},
            )
        return {"errcode": 0, "msgid": msgid}

    def _send_on_event(self, body: dict[str, Any]) -> dict[str, Any]:
        code = self.codes.pop(str(body.get("code") or ""), None)
        if code is None or code["expires"] < time.time():
            return self._refuse("send_msg_on_event", 95011, body)
        problem = _body_problem(body)
        if problem:
            return self._refuse("send_msg_on_event", problem, body)
        return self._deliver({**body, "on_event": code["kind"]}, code["open_kfid"], code["user"], "")

    def _state_get(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body.get("open_kfid", ""), body.get("external_userid", ""))
        return {"errcode": 0, "service_state": session["state"], "servicer_userid": session.get("servicer") or ""}

    def _trans(self, body: dict[str, Any]) -> dict[str, Any]:
        open_kfid, user = body.get("open_kfid", ""), body.get("external_userid", "")
        session, target = self._session(open_kfid, user), int(body.get("service_state", -1))
        if target not in MOVES.get(session["state"], set()):
            return self._refuse("trans", 95016, body)
        servicer = body.get("servicer_userid")
        if target == 3:
            receiving = {s["userid"] for s in self.servicer_list.get(open_kfid, []) if s.get("status") == 0}
            if servicer not in receiving:
                return self._refuse("trans", 95014, body)
        session["state"], session["servicer"] = target, servicer if target == 3 else None
        code = ""
        if target in (2, 3, 4):
            code = self._code(open_kfid, user, "trans", 60)
        return {"errcode": 0, "msg_code": code}

    def _servicers(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"errcode": 0, "servicer_list": list(self.servicer_list.get(body.get("open_kfid", ""), []))}

    def _accounts(self, body: dict[str, Any]) -> dict[str, Any]:
        items = [{"open_kfid": k, "name": v["name"]} for k, v in self.accounts.items()]
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 100)
        return {"errcode": 0, "account_list": items[offset : offset + limit]}

    def _contact_way(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("open_kfid") not in self.accounts:
            return self._refuse("add_contact_way", 95000, body)
        self.contact_ways.append(dict(body))
        scene = quote(str(body.get("scene") or ""))
        return {"errcode": 0, "url": f"https://work.weixin.qq.com/kfid/{body['open_kfid']}?enc_scene={scene}"}

    # ---------- state kept for tests

    def _session(self, open_kfid: str, user: str) -> dict[str, Any]:
        return self.states.setdefault((open_kfid, user), {"state": 0, "servicer": None, "sent_since": 0})

    def _code(self, open_kfid: str, user: str, kind: str, life: float) -> str:
        code = uuid.uuid4().hex
        self.codes[code] = {"open_kfid": open_kfid, "user": user, "kind": kind, "expires": time.time() + life}
        return code

    def _append(self, open_kfid: str, item: dict[str, Any]) -> str:
        self.next_id += 1
        msgid = f"m{self.next_id:06d}{uuid.uuid4().hex[:6]}"
        self.log[open_kfid].append({"msgid": msgid, "open_kfid": open_kfid, "send_time": int(time.time()), **item})
        return msgid

    def _event(self, open_kfid: str, event: dict[str, Any], send_time: Optional[int] = None) -> str:
        msgid = self._append(open_kfid, {"origin": 4, "msgtype": "event", "event": {"open_kfid": open_kfid, **event}})
        if send_time is not None:
            self.log[open_kfid][-1]["send_time"] = send_time
        return msgid

    # ---------- what visitors, servicers and WeCom do (tests call these)

    def add_account(self, name: str = "许可证咨询") -> str:
        with self.lock:
            open_kfid = "wk" + uuid.uuid4().hex[:20]
            self.accounts[open_kfid] = {"name": name}
            self.log[open_kfid] = []
            return open_kfid

    def says(
        self, open_kfid: str, user: str, text: str, menu_id: str = "", ago: float = 0, msgtype: str = "text"
    ) -> str:
        """A visitor's message; ``ago`` seconds in the past (for the backlog and the 48 h)."""
        with self.lock:
            body: dict[str, Any] = {"content": text}
            if menu_id:
                body["menu_id"] = menu_id
            item = {"origin": 3, "external_userid": user, "msgtype": msgtype}
            item.update({"text": body} if msgtype == "text" else {msgtype: {"media_id": "m1"}})
            msgid = self._append(open_kfid, item)
            self.log[open_kfid][-1]["send_time"] = int(time.time() - ago)
            session = self._session(open_kfid, user)
            if session["state"] == 4:
                session["state"] = 0
            session["last_customer_at"], session["sent_since"] = time.time() - ago, 0
            return msgid

    def enters(self, open_kfid: str, user: str, scene: str = "", scene_param: str = "", ago: float = 0) -> str:
        with self.lock:
            code = self._code(open_kfid, user, "welcome", 20 - ago)
            event = {
                "event_type": "enter_session",
                "external_userid": user,
                "scene": scene,
                "scene_param": scene_param,
                "welcome_code": code,
            }
            return self._event(open_kfid, event, int(time.time() - ago))

    def servicer_online(self, open_kfid: str, userid: str, receiving: bool = True) -> None:
        with self.lock:
            servicers = [s for s in self.servicer_list.get(open_kfid, []) if s["userid"] != userid]
            self.servicer_list[open_kfid] = [*servicers, {"userid": userid, "status": 0 if receiving else 1}]

    def servicer_says(self, open_kfid: str, user: str, servicer: str, text: str) -> str:
        with self.lock:
            item = {
                "origin": 5,
                "external_userid": user,
                "servicer_userid": servicer,
                "msgtype": "text",
                "text": {"content": text},
            }
            return self._append(open_kfid, item)

    def take_over(self, open_kfid: str, user: str, servicer: str) -> str:
        """A servicer picks the session up in the WeCom app (state 3)."""
        with self.lock:
            session = self._session(open_kfid, user)
            session["state"], session["servicer"] = 3, servicer
            return self._event(
                open_kfid,
                {
                    "event_type": "session_status_change",
                    "external_userid": user,
                    "change_type": 1,
                    "new_servicer_userid": servicer,
                },
            )

    def end_session(self, open_kfid: str, user: str) -> str:
        """The servicer ends the session (state 4); the event carries a code for one closing message."""
        with self.lock:
            session = self._session(open_kfid, user)
            session["state"], session["servicer"] = 4, None
            code = self._code(open_kfid, user, "end", 20)
            return self._event(
                open_kfid,
                {"event_type": "session_status_change", "external_userid": user, "change_type": 3, "msg_code": code},
            )

    def state_of(self, open_kfid: str, user: str) -> int:
        with self.lock:
            return int(self._session(open_kfid, user)["state"])

    def to(self, user: str) -> list[dict[str, Any]]:
        """What reached ``user``, oldest first."""
        with self.lock:
            return [m for m in self.sent if m["touser"] == user]

    def texts_to(self, user: str) -> list[str]:
        found = []
        for message in self.to(user):
            if message.get("msgtype") == "text":
                found.append(message["text"]["content"])
            elif message.get("msgtype") == "msgmenu":
                found.append(message["msgmenu"].get("head_content") or "")
        return found

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0

    # ---------- callbacks as WeCom sends them

    def sync_token(self, life: float = 600) -> str:
        with self.lock:
            token = "ST" + uuid.uuid4().hex
            self.sync_tokens[token] = time.time() + life
            return token

    def callback(self, open_kfid: str, token: Optional[str] = None, timestamp: Optional[int] = None) -> dict:
        """``requests.post`` arguments for the nudge WeCom sends: encrypted, signed (a new token unless given)."""
        token = token or self.sync_token()
        xml = (
            f"<xml><ToUserName><![CDATA[{KF['WECOM_KF_CORP_ID']}]]></ToUserName><CreateTime>{int(time.time())}"
            "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
        )
        return signed_envelope(xml, timestamp)


def signed_envelope(xml: str, timestamp: Optional[int] = None) -> dict:
    """``requests.post`` arguments for ``xml`` encrypted and signed as WeCom does."""
    import xmltodict

    stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), uuid.uuid4().hex[:10]
    envelope = CRYPTO.encrypt_message(xml, nonce, stamp)
    parsed = xmltodict.parse(envelope)["xml"]
    body = (
        f"<xml><ToUserName><![CDATA[{KF['WECOM_KF_CORP_ID']}]]></ToUserName>"
        f"<Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    )
    return {
        "params": {"msg_signature": parsed["MsgSignature"], "timestamp": stamp, "nonce": nonce},
        "data": body.encode(),
    }


def signed_echo(echo: str, timestamp: Optional[int] = None) -> dict:
    """``requests.get`` params for WeCom's URL check of ``echo``."""
    import hashlib

    from wechatpy.enterprise.crypto import PrpCrypto

    stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), uuid.uuid4().hex[:10]
    encrypted = PrpCrypto(CRYPTO.key).encrypt(echo, KF["WECOM_KF_CORP_ID"]).decode()
    signature = hashlib.sha1("".join(sorted([KF["WECOM_KF_TOKEN"], stamp, nonce, encrypted])).encode()).hexdigest()
    return {"msg_signature": signature, "timestamp": stamp, "nonce": nonce, "echostr": encrypted}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode()


def _position(cursor: Optional[str]) -> Optional[int]:
    if not cursor:
        return None
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])


def _body_problem(body: dict[str, Any]) -> Optional[int]:
    if body.get("msgtype") == "text":
        if len(str(body.get("text", {}).get("content", "")).encode()) > 2048:
            return 44004  # text too long
    elif body.get("msgtype") == "msgmenu":
        menu = body.get("msgmenu") or {}
        if len(menu.get("list") or []) > 10:
            return 95008
        if len(str(menu.get("head_content") or "").encode()) > 1024:
            return 44004
        for item in menu.get("list") or []:
            click = item.get("click") or {}
            if len(str(click.get("id", "")).encode()) > 64 or len(str(click.get("content", "")).encode()) > 128:
                return 44004
    else:
        return 40008  # a message type the channel never sends
    return None
