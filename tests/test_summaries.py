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
        return {s.conversation_id: (s.user_messages, s.fell_back, s.low_confidence, s.search_text)
                for s in session.query(conversations.ConversationSummary)}


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


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request, tmp_path):
    if request.param == "sqlite":
        tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
        migrate.upgrade(app)
        yield tracker, app
        return
    from bench.servers import postgres

    with postgres("summaries") as url:  # the production shape: one database for Rasa and the console
        migrate.upgrade(url)
        yield url, url
        db.get_engine(url).dispose()


def test_two_refreshes_at_once_count_every_message_once(databases, tmp_path):
    tracker, app = databases
    generate(tracker, 3000)  # ~18,000 events: several batches each
    fold_at_once(tracker, app, refreshers=3)
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    migrate.upgrade(reference)
    conversations.refresh(tracker, reference)
    assert summaries(app) == summaries(reference)
    with db.get_engine(tracker).connect() as connection:
        users = connection.execute(sa.text("SELECT COUNT(*) FROM events WHERE type_name = 'user'")).scalar()
    assert sum(count for count, *_ in summaries(app).values()) == users


def test_a_bounded_refresh_leaves_the_rest_for_the_next_round(tmp_path):
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", f"sqlite:///{tmp_path / 'app.db'}"
    migrate.upgrade(app)
    events = generate(tracker, 3000)
    first = conversations.refresh(tracker, app, max_batches=1)
    assert first == conversations.BATCH < events
    assert first + conversations.refresh(tracker, app) == events
