"""A human holding a 微信客服 session: what that changes here, not in WeCom.

WeCom's session state is noted in the database (a servicer or WeCom's queue holds the visitor: the assistant
stays silent), the console's handoff desk shows who holds it, and the transcript gets the pause, the
servicers' own messages (as staff messages) and the resume when WeCom ends the session.

Synchronous (database, Rasa's HTTP API): the worker and the sender call it in an executor.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from bot import db, rasa_api
from bot import settings as settings_module
from bot.plugins.channels.wecom_kf_api import STATE_ENDED, STATE_QUEUED, STATE_SERVING, mask
from bot.store import handoffs
from bot.store import wecom_kf as store

logger = logging.getLogger(__name__)


class KFDesk:
    """The database, the handoff desk and the transcript of visitors a human holds in WeCom."""

    def __init__(self, config: settings_module.Settings) -> None:
        self.config, self.url = config, config.database_url

    def requested(self, external_userid: str) -> bool:
        """Whether the turn just queued a handoff (actions/handoff.py) that WeCom does not know of yet."""
        with db.session_scope(self.url) as session:
            handoff = handoffs.open_handoff(external_userid, session=session)
            return handoff is not None and handoff.status == "queued" and handoff.agent is None

    def holds(self, open_kfid: str, external_userid: str, state: int, servicer: Optional[str]) -> None:
        """A human serves or will: note the state, pause the assistant, show it on the handoff desk."""
        before = store.visitor(self.url, external_userid)
        store.set_state(self.url, external_userid, open_kfid, state, servicer)
        # the handoff desk shows who holds the session in WeCom; held there, it never expires on the desk
        with db.session_scope(self.url) as session:
            handoff = handoffs.queue_handoff(external_userid, store.CHANNEL, session=session)
            handoff.status, handoff.agent = "claimed", f"wecom:{servicer}" if servicer else "wecom:queue"
            handoff.claimed_at = handoff.claimed_at or db.utcnow()
        if before is None or before["state"] not in (STATE_QUEUED, STATE_SERVING):
            self.append(external_userid, [{"event": "pause"}])

    def left(self, open_kfid: str, external_userid: str) -> None:
        """WeCom ended the session: the handoff ends and the assistant answers again."""
        store.set_state(self.url, external_userid, open_kfid, STATE_ENDED, None)
        with db.session_scope(self.url) as session:
            handoff = handoffs.open_handoff(external_userid, session=session)
            if handoff is not None:
                handoff.status, handoff.ended_at = "ended", db.utcnow()
        self.append(external_userid, rasa_api.RESUME)

    def servicer_said(self, external_userid: str, item: dict[str, Any]) -> None:
        """A servicer wrote from the WeCom app: into the transcript as a staff message, never as the visitor."""
        servicer = str(item.get("servicer_userid") or "")
        body = item["text"] if isinstance(item.get("text"), dict) else {}
        text = str(body.get("content") or "") if item.get("msgtype") == "text" else f"[{item.get('msgtype')}]"
        staff = f"wecom:{servicer[:64]}" if servicer else "wecom"
        self.append(external_userid, [{"event": "bot", "text": text[:4000], "metadata": {"staff": staff}}])

    def append(self, external_userid: str, events: list[dict[str, Any]]) -> None:
        """Add ``events`` to the visitor's transcript (Rasa's tracker); a Rasa that is away is logged, not fatal."""
        try:
            rasa_api.append_events(external_userid, events, self.config)
        except rasa_api.RasaUnavailable as exc:  # safe text: no URL, no token
            logger.warning("WeCom KF: transcript of %s not updated: %s", mask(external_userid), exc)
