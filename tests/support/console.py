"""Logging in to the staff console: through a Flask test client, or as a browser would on a running stack."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import requests
import sqlalchemy as sa

from bot import db
from bot.store import conversations, staff, summaries
from tests.support.waiting import eventually

PASSWORD = "console attack test password"
PHONE = "13812345678"


def csrf(client, path="/console/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def admin_client(app):
    """A test client of ``app`` logged in as the console fixture's admin (admin1)."""
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    return client


def api_csrf(client) -> str:
    """The CSRF token a logged-in page carries, for the console API's X-CSRF-Token header."""
    return csrf(client, "/console/leads")


def login(client, name, password):
    return client.post("/console/login", data={"username": name, "password": password, "csrf_token": csrf(client)})


def conversation_with_a_phone(database_url: str, at: dt.datetime | None = None) -> str:
    """Store a conversation (summary and a collected example) whose visitor wrote PHONE; return its id.

    ``at`` is its first and last message (naive UTC, as the summaries keep it; default now).
    """
    at = at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with db.session_scope(database_url) as session:
        session.add(
            conversations.ConversationSummary(
                conversation_id="s03-phone",
                channel="rest",
                first_at=at,
                last_at=at,
                user_messages=1,
                preview=f"我的电话 {PHONE}",
                search_text=f"\n我的电话 {PHONE}",
                topics="",
                tags="",
                fell_back=False,
                low_confidence=False,
                reviewed=False,
            )
        )
        session.add(
            conversations.CollectedExample(
                text=f"请打 {PHONE} 联系我", intent="request_consultant", conversation_id="s03-phone", collected_by="x"
            )
        )
    return "s03-phone"


def summaries_caught_up(tracker_url: str, database_url: str, timeout: float = 30) -> None:
    """Wait until the conversation summaries hold every tracker event stored so far.

    The notifier alone folds them (every round); the console only reads what it folded.
    """
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker_url))
    with db.get_engine(tracker_url).connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0

    def folded() -> bool:
        with db.session_scope(database_url) as session:
            mark = session.get(summaries.Watermark, "events")
            return mark is not None and mark.last_event_id >= newest

    eventually(folded, timeout)


# ---------- staff of a running stack (tests/support/stack.py): each test makes its own users and tokens


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_user(stack, role: str, name: str | None = None) -> str:
    """A staff user with ``PASSWORD`` on the stack's database; returns the name."""
    name = name or unique(f"sec-{role}")
    with db.session_scope(stack.database_url) as session:
        staff.create_user(name, role, PASSWORD, session=session)
    return name


def make_token(stack, role: str = "agent", name: str | None = None) -> str:
    with db.session_scope(stack.database_url) as session:
        return staff.create_token(name or unique(f"sec-token-{role}"), role=role, session=session)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def log_in(stack, name: str) -> requests.Session:
    """A browser-like console session (cookie) that also knows its CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{stack.web_url}/console/login", timeout=10).text
    browser.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(
        f"{stack.web_url}/console/login",
        data={"username": name, "password": PASSWORD, "csrf_token": browser.csrf},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text
    page = browser.get(f"{stack.web_url}/console/leads", timeout=10).text
    browser.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser
