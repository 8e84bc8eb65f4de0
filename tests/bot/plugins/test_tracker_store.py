"""The tracker store keeps a conversation's tracker between turns, and never hands out a stale one."""

from __future__ import annotations

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered

from bot.plugins.tracker_store import CachedSQLTrackerStore
from bot.settings import PROJECT_ROOT
from tests.support.trackers import stored_events, turn

DOMAIN = Domain.load(str(PROJECT_ROOT / "bot" / "domain.yml"))


def store(url: str, cache_events: int = 1000) -> CachedSQLTrackerStore:
    return CachedSQLTrackerStore(DOMAIN, host=url, cache_events=cache_events)


async def talk(tracker_store, sender: str, text: str, slot: tuple | None = None):
    """One turn as Rasa's processor does it: read the tracker, add the turn's events, save."""
    tracker = await tracker_store.get_or_create_tracker(sender)
    for event in turn(text, slot):
        tracker.update(event)
    await tracker_store.save(tracker)
    return tracker


async def test_the_next_turn_gets_the_saved_tracker_and_every_event_is_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url)
    await talk(ours, "c1", "你好")  # a new conversation's tracker is made, not read: it is read at the next turn
    first = await talk(ours, "c1", "全网")
    second = await talk(ours, "c1", "注册资本要多少", ("fact_key", "conditions.capital"))
    assert second is first  # handed on, not rebuilt
    stock = await SQLTrackerStore(DOMAIN, host=url).retrieve("c1")
    assert [e.as_dict() for e in stock.events] == [e.as_dict() for e in second.events]
    assert stock.get_slot("fact_key") == "conditions.capital"
    assert len(stored_events(url, "c1")) == len(second.events)


async def test_a_second_instance_sees_the_first_ones_turns_and_the_first_sees_the_second_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    a, b = store(url), store(url)
    await talk(a, "c1", "你好")
    await talk(a, "c1", "全网", ("licence_scope", "全网"))
    on_b = await talk(b, "c1", "内资")
    assert on_b.get_slot("licence_scope") == "全网"  # b read a's turns
    back_on_a = await talk(a, "c1", "2000万", ("capital", "2000万"))
    assert [e.text for e in back_on_a.events if isinstance(e, UserUttered)] == ["你好", "全网", "内资", "2000万"]
    stored = [row["text"] for row in stored_events(url, "c1") if row["event"] == "user"]
    assert stored == ["你好", "全网", "内资", "2000万"]  # each turn once, in order


async def test_a_deleted_conversation_is_not_handed_out_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url)
    await talk(ours, "c1", "你好", ("licence_scope", "全网"))
    with sa.create_engine(url).begin() as connection:  # what retention does
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'c1'"))
    assert await ours.retrieve("c1") is None
    fresh = await talk(ours, "c1", "你好")
    assert fresh.get_slot("licence_scope") is None


async def test_a_turn_that_fails_before_saving_leaves_nothing_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url)
    await talk(ours, "c1", "你好")
    broken = await ours.retrieve("c1")
    broken.update(SlotSet("licence_scope", "地网"))  # the turn fails here: never saved
    again = await ours.retrieve("c1")
    assert again is not broken and again.get_slot("licence_scope") is None


async def test_a_new_session_is_read_back_from_its_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url)
    await talk(ours, "c1", "你好")
    tracker = await ours.retrieve("c1")
    for event in [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]:
        tracker.update(event)
    await ours.save(tracker)
    read = await ours.retrieve("c1")
    stock = await SQLTrackerStore(DOMAIN, host=url).retrieve("c1")
    assert [e.as_dict() for e in read.events] == [e.as_dict() for e in stock.events]


async def test_the_cache_holds_no_more_events_than_its_bound(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url, cache_events=40)
    for number in range(10):
        await talk(ours, f"c{number}", "你好")
        await talk(ours, f"c{number}", "注册资本要多少")
    assert 0 < ours.cache.events <= 40
    assert len(ours.cache) < 10
    assert (await ours.retrieve("c0")).sender_id == "c0"  # dropped ones are read from the database


async def test_off_when_the_bound_is_zero(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    ours = store(url, cache_events=0)
    await talk(ours, "c1", "你好")
    first = await talk(ours, "c1", "全网")
    assert await ours.retrieve("c1") is not first
    assert [e for e in first.events if isinstance(e, BotUttered)]
