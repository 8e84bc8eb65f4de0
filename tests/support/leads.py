"""A lead as the lead form saves it: the tests of the lead store, the console's leads screen and the notifier."""

from __future__ import annotations

LEAD = {
    "conversation_id": "c1",
    "channel": "socketio",
    "name": "张先生",
    "phone": "13812345678",
    "company": "某某科技",
    "region": "广东省",
    "licence": "全网",
    "consent": True,
    "topics": ["capital"],
}
