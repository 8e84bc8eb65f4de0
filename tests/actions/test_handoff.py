"""The request for a person (actions/handoff.py): staff hours, the queue's limits, unreachable conversations."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot import db
from bot.store import handoffs
from tests.support.actions import run, tracker_for


async def test_handoff_outside_staff_hours_offers_the_lead_form(database_url, monkeypatch):
    from actions.handoff import ActionRequestHandoff

    monkeypatch.setenv("BUSINESS_DAYS", "")  # nobody on duty
    messages, events = await run(ActionRequestHandoff(), "request_human")
    assert messages[0]["response"] == "utter_handoff_closed"
    assert events == [{"event": "followup", "timestamp": None, "name": "lead_form"}]


async def test_handoff_in_staff_hours_queues_and_pauses(database_url, monkeypatch):
    from actions.handoff import ActionRequestHandoff

    monkeypatch.setenv("BUSINESS_HOURS", "0-24")
    monkeypatch.setenv("BUSINESS_DAYS", "1,2,3,4,5,6,7")
    messages, events = await run(ActionRequestHandoff(), "request_human")
    assert messages[0]["response"] == "utter_handoff_queued"
    assert events == [{"event": "pause", "timestamp": None}]
    with db.session_scope(database_url) as session:
        assert handoffs.open_handoff("visitor", session=session).status == "queued"


async def ask_for_a_human(sender: str):
    from actions.handoff import ActionRequestHandoff

    tracker = tracker_for("request_human")
    tracker.sender_id = sender
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHandoff().run(dispatcher, tracker, {})
    return [m.get("response") or m.get("text") for m in dispatcher.messages], events


@pytest.fixture
def on_duty(monkeypatch):
    monkeypatch.setenv("BUSINESS_HOURS", "0-24")
    monkeypatch.setenv("BUSINESS_DAYS", "1,2,3,4,5,6,7")


async def test_f16_handoff_queue_has_a_ceiling(database_url, on_duty, monkeypatch):
    """F16: past HANDOFF_MAX_QUEUED waiting visitors, the next one is offered the lead form politely."""
    monkeypatch.setenv("HANDOFF_MAX_QUEUED", "3")
    for i in range(3):
        assert (await ask_for_a_human(f"flood-{i}"))[0] == ["utter_handoff_queued"]
    messages, events = await ask_for_a_human("flood-3")
    assert messages == ["utter_handoff_timeout"]
    assert events == [{"event": "followup", "timestamp": None, "name": "lead_form"}]
    with db.session_scope(database_url) as session:
        assert (
            session.query(handoffs.Handoff).count() == 3 and handoffs.open_handoff("flood-3", session=session) is None
        )
        handoffs.open_handoff("flood-0", session=session).status = "claimed"  # staff take one: room for another
    assert (await ask_for_a_human("flood-4"))[0] == ["utter_handoff_queued"]


async def test_f16_new_handoffs_per_minute_are_capped(database_url, on_duty, monkeypatch):
    """F16: a burst of new handoffs is cut at HANDOFF_MAX_PER_MINUTE, even when staff claim them at once."""
    monkeypatch.setenv("HANDOFF_MAX_PER_MINUTE", "2")
    for i in range(2):
        assert (await ask_for_a_human(f"burst-{i}"))[0] == ["utter_handoff_queued"]
        with db.session_scope(database_url) as session:
            handoffs.open_handoff(f"burst-{i}", session=session).status = "claimed"
    assert (await ask_for_a_human("burst-2"))[0] == ["utter_handoff_timeout"]


async def test_f16_one_open_handoff_per_conversation(database_url, on_duty):
    """F16: asking again in the same conversation does not add to the queue."""
    await ask_for_a_human("same")
    await ask_for_a_human("same")
    with db.session_scope(database_url) as session:
        assert session.query(handoffs.Handoff).filter_by(conversation_id="same").count() == 1


@pytest.mark.parametrize("sender", ["dos/1", "a b", "x%2F", "访客", "..", "x" * 300])
async def test_s02_a_conversation_staff_cannot_reach_gets_the_lead_form_not_a_queued_handoff(
    database_url, on_duty, sender
):
    """S2: a handoff staff could never end or expire (an id Rasa's API cannot address) is never queued."""
    messages, events = await ask_for_a_human(sender)
    assert messages == ["utter_handoff_timeout"]
    assert events == [{"event": "followup", "timestamp": None, "name": "lead_form"}]
    with db.session_scope(database_url) as session:
        assert session.query(handoffs.Handoff).count() == 0


async def ask_from(sender: str, client: str | None):
    """Ask for a human as a visitor the channel saw at ``client`` (its keyed address, in the message metadata)."""
    from actions.handoff import ActionRequestHandoff

    tracker = tracker_for("request_human")
    tracker.sender_id = sender
    tracker.latest_message["metadata"] = {"client": client} if client else {}
    dispatcher = CollectingDispatcher()
    await ActionRequestHandoff().run(dispatcher, tracker, {})
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


async def test_s02_one_address_holds_at_most_a_few_places_in_the_queue(database_url, on_duty, monkeypatch):
    """S2: one address asking from ten conversations a minute kept the whole queue full for everyone."""
    monkeypatch.setenv("HANDOFF_MAX_PER_ADDRESS", "2")
    assert await ask_from("one-1", "a1") == ["utter_handoff_queued"]
    assert await ask_from("one-2", "a1") == ["utter_handoff_queued"]
    assert await ask_from("one-3", "a1") == ["utter_handoff_timeout"]  # the lead form instead
    assert await ask_from("other-1", "b2") == ["utter_handoff_queued"]  # another address still gets a human
    assert await ask_from("no-address", None) == ["utter_handoff_queued"]  # a trusted integration: global caps only
    with db.session_scope(database_url) as session:
        assert handoffs.open_handoff("one-3", session=session) is None
        handoffs.open_handoff("one-1", session=session).status = "claimed"  # staff take one: room again
    assert await ask_from("one-4", "a1") == ["utter_handoff_queued"]


async def test_a_handoff_the_database_cannot_queue_tells_the_visitor_no_person_is_coming(
    tmp_path, on_duty, monkeypatch
):
    """It said 「知识库暂时无法访问」: now the visitor hears that no person can be reached, and whom to call."""
    (tmp_path / "db").mkdir()  # a folder where the database file should be: SQLite cannot open it
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db'}")
    messages, events = await ask_for_a_human("visitor-db-down")
    assert messages == ["utter_handoff_unavailable"] and events == []  # not paused: the bot goes on answering
