"""The assistant's turn as 微信客服 messages, within WeChat's sizes.

A turn of several bubbles becomes one message (WeChat allows 5 in 48 h), split only past 2048 bytes;
buttons (「您是想问」, the greeting's topics) become a ``msgmenu`` whose clicks come back as ``menu_id``;
what WeChat's budget cannot hold is squeezed into fewer messages.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

TEXT_BYTES = 2048
HEAD_BYTES = 1024
MENU_ITEMS = 10
MENU_ID_BYTES = 64
MENU_CONTENT_BYTES = 128
OPTION_ID = re.compile(r"opt([0-9])")  # an option whose payload is too long for a menu id: by number


def fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, at a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def split_bytes(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` bytes, at paragraph, line or sentence ends where it can."""
    parts: list[str] = []
    current = ""
    for piece in re.split(r"(?<=\n)|(?<=。)", text):  # each position is looked at once: linear
        while len(piece.encode("utf-8")) > limit:
            if current.strip():
                parts.append(current.strip())
            current = ""
            head = fit(piece, limit)
            parts.append(head)
            piece = piece[len(head) :]
        if len((current + piece).encode("utf-8")) > limit:
            if current.strip():
                parts.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        parts.append(current.strip())
    return parts


def render(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the KF message bodies for a turn's bot messages, and the payloads of the options offered."""
    texts: list[str] = []
    options: list[tuple[str, str]] = []
    for message in messages:
        if message.get("text"):
            texts.append(str(message["text"]))
        for button in message.get("buttons") or message.get("quick_replies") or []:
            payload = str(button.get("payload") or button.get("title") or "")
            if payload and len(options) < MENU_ITEMS:
                options.append((str(button.get("title") or payload), payload))
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if not options:
        return [{"msgtype": "text", "text": {"content": part}} for part in split_bytes(text)], []
    head = ""
    bodies: list[dict[str, Any]] = []
    if len(text.encode("utf-8")) <= HEAD_BYTES:
        head = text
    else:  # too long for a menu's head: the text first, the options after it
        bodies = [{"msgtype": "text", "text": {"content": part}} for part in split_bytes(text)]
    items = []
    for number, (title, payload) in enumerate(options):
        menu_id = payload if len(payload.encode("utf-8")) <= MENU_ID_BYTES else f"opt{number}"
        items.append({"type": "click", "click": {"id": menu_id, "content": fit(title, MENU_CONTENT_BYTES)}})
    bodies.append({"msgtype": "msgmenu", "msgmenu": {"head_content": head, "list": items, "tail_content": ""}})
    return bodies, [payload for _, payload in options]


def as_text(body: dict[str, Any]) -> str:
    """What a KF message says, for a transcript or a problem report."""
    if body.get("msgtype") == "text":
        return str(body["text"]["content"])
    if body.get("msgtype") == "msgmenu":
        menu = body["msgmenu"]
        lines = [menu.get("head_content") or ""] + [f"· {i['click']['content']}" for i in menu.get("list") or []]
        return "\n".join(line for line in lines if line)
    return f"[{body.get('msgtype')}]"


def reply_id(open_kfid: str, msgid: str, part: int) -> str:
    """The WeChat msgid of part ``part`` of the answer to ``msgid``: the same on a retry (≤ 32 bytes)."""
    return "a" + hashlib.sha256(f"{open_kfid}:{msgid}".encode()).hexdigest()[:28] + f"{part:02d}"


def squeeze(bodies: list[dict[str, Any]], room: int) -> list[dict[str, Any]]:
    """At most ``room`` messages: texts that do not fit are joined into one (a menu keeps its own place)."""
    if room <= 0:
        return []
    if len(bodies) <= room:
        return bodies
    text = "\n\n".join(as_text(b) for b in bodies)
    merged = fit(text, TEXT_BYTES - 8)
    if merged != text:
        merged += "……"
    return [{"msgtype": "text", "text": {"content": merged}}]


def choice_key(external_userid: str) -> str:
    """Where the payloads of the options last offered to a visitor are kept (a menu's click by number)."""
    return f"kf:{external_userid}"
