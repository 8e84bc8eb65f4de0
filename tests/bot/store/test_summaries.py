"""Conversation summaries for the console: folded once, whoever folds and however many at once."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from bench.console_list import generate
from bot import db, migrate
from bot.store import conversations, summaries


def summary_rows(url: str) -> dict[str, tuple]:
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
            while summaries.refresh(tracker, app):
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
    monkeypatch.setattr(summaries, "BATCH", 500)


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
    summaries.refresh(tracker, reference)
    assert summary_rows(app) == summary_rows(reference)
    with db.get_engine(tracker).connect() as connection:
        users = connection.execute(sa.text("SELECT COUNT(*) FROM events WHERE type_name = 'user'")).scalar()
    assert sum(count for count, *_ in summary_rows(app).values()) == users


def test_a_bounded_refresh_leaves_the_rest_for_the_next_round(tmp_path, empty_database):
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", empty_database
    events = generate(tracker, 300)
    first = summaries.refresh(tracker, app, max_batches=1)
    assert first == summaries.BATCH < events
    assert first + summaries.refresh(tracker, app) == events


def _add_event(tracker: str, sender: str, data: dict) -> None:
    with db.get_engine(tracker).begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)"
                " VALUES (:sender, 'user', 1700000000, 'ask_capital', NULL, :data)"
            ),
            {"sender": sender, "data": json.dumps(data, ensure_ascii=False)},
        )


def test_f08_an_event_the_database_refuses_is_skipped_and_the_rest_still_folds(tmp_path, empty_database, monkeypatch):
    """F8: one event whose summary the database refuses (a DataError) no longer stops every later summary."""
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", empty_database
    generate(tracker, 3)
    _add_event(tracker, "poison", {"event": "user", "text": "毒", "input_channel": "rest"})
    generate(tracker, 3, seed=8)  # conversations after the refused one: the same ids again, more turns
    _add_event(tracker, "after", {"event": "user", "text": "之后", "input_channel": "rest"})
    fold = summaries._fold

    def refusing(summary, row):  # what PostgreSQL does with a value too long for its column
        if row.sender_id == "poison":
            raise sa.exc.DataError("INSERT …", {}, Exception("value too long for type character varying(30)"))
        fold(summary, row)

    monkeypatch.setattr(summaries, "_fold", refusing)
    summaries.refresh(tracker, app)
    folded = summary_rows(app)
    assert "after" in folded and "poison" not in folded
    assert summaries.refresh(tracker, app) == 0  # the watermark is past it: nothing is read twice


def test_f08_a_channel_name_or_nul_the_database_cannot_store_is_made_storable(tmp_path, empty_database):
    """F8: PostgreSQL refuses a channel over 30 characters and NUL in text; the summary stores what it can."""
    tracker, app = f"sqlite:///{tmp_path / 'tracker.db'}", empty_database
    generate(tracker, 1)
    _add_event(tracker, "odd", {"event": "user", "text": "注册\x00资本", "input_channel": "c" * 40})
    summaries.refresh(tracker, app)
    with db.session_scope(app) as session:
        summary = session.get(conversations.ConversationSummary, "odd")
        assert len(summary.channel) <= 30 and "\x00" not in summary.search_text and "注册资本" in summary.search_text


def test_f08_postgresql_skips_an_event_it_cannot_store(postgres_url):
    """F8 on the production database: a channel too long for its column used to stop refresh() for good."""
    migrate.upgrade(postgres_url)
    generate(postgres_url, 2)
    _add_event(postgres_url, "odd-pg", {"event": "user", "text": "注册\x00资本", "input_channel": "c" * 40})
    _add_event(postgres_url, "after-pg", {"event": "user", "text": "之后", "input_channel": "rest"})
    summaries.refresh(postgres_url, postgres_url)
    assert "after-pg" in summary_rows(postgres_url)
