"""Conversation summaries for the console: folded once, whoever folds and however many at once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from bench.console_list import generate
from bot import db, migrate
from bot.store import conversations


def summaries(url: str) -> dict[str, tuple]:
    with db.session_scope(url) as session:
        return {
            s.conversation_id: (s.user_messages, s.fell_back, s.low_confidence, s.search_text)
            for s in session.query(conversations.ConversationSummary)
        }


def fold_at_once(tracker: str, app: str, refreshers: int) -> None:
    start = threading.Barrier(refreshers)
    errors = []

    def run():
        start.wait()
        try:
            while conversations.refresh(tracker, app):
                pass  # a refresher that found the watermark taken tries again until nothing is left
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(refreshers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Batches of 500 events: 300 conversations (~1,800 events) still fold in several batches per refresher."""
    monkeypatch.setattr(conversations, "BATCH", 500)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.stack)])
def databases(request, tmp_path, empty_database):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}", empty_database
        return
    url = request.getfixturevalue("postgres_url")  # the production shape: one database for Rasa and the console
    migrate.upgrade(url)
    yield url, url


def test_two_refreshes_at_once_count_every_message_once(databases, tmp_path):
    tracker, app = databases
    generate(tracker, 300)  # ~1,800 events: several batches each
    fold_at_once(tracker, app, refreshers=3)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    migrate.upgrade(reference)
    conversations.refresh(tracker, reference)
    assert summaries(app) == summaries(reference)
    with db.get_engine(tracker).connect() as connection:
        users = connection.execute(sa.text("SELECT COUNT(*) FROM events WHERE type_name = 'user'")).scalar()
    assert sum(count for count, *_ in summaries(app).values()) == users


def test_a_bounded_refresh_leaves_the_rest_for_the_next_round(tmp_path, empty_database):
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", empty_database
    events = generate(tracker, 300)
    first = conversations.refresh(tracker, app, max_batches=1)
    assert first == conversations.BATCH < events
    assert first + conversations.refresh(tracker, app) == events
