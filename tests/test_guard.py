"""The guard on public channels: which payloads pass, size and rate limits."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot import settings
from bot.channels.guard import EMPTY, TOO_FAST, TRUST, TRUSTED, Guard, screen
from bot.ratelimit import RateLimiter


@pytest.mark.parametrize("payload", [
    "/ask_capital", "/check_eligibility", "/request_consultant", "/affirm", "  /deny ",
    '/inform{"licence_scope": "地网"}', '/inform{"licence_scope":"全网"}', '/inform{"company_type": "外资"}',
])
def test_the_payloads_our_buttons_send_pass(payload):
    assert screen(payload) == payload.strip()


@pytest.mark.parametrize("payload", [
    "/EXTERNAL_handoff_ended",             # would end a human takeover
    "/restart", "/session_start", "/back",  # Rasa's built-ins: not offered by any button
    "/ask_fees@0.1",                       # a forged confidence
    '/inform{"lead_phone": "13800138000"}',  # an entity no button sends: would skip validation
    '/inform{"licence_scope": "地网", "capital": "1亿"}',
    "/inform{not json", "/", "//ask_capital", "/no_such_intent",
])
def test_other_payloads_become_text(payload):
    screened = screen(payload)
    assert screened.startswith("／") and not screened.startswith("/")
    assert screened[1:] == payload.strip()[1:]  # what the visitor typed is kept


@given(st.text(max_size=200))
@hsettings(max_examples=300, deadline=None)
def test_no_text_becomes_a_payload_that_buttons_do_not_offer(text):
    screened = screen(text)
    if screened.strip().startswith("/"):
        assert screened == text.strip()
        assert "@" not in screened and "EXTERNAL" not in screened
    else:
        assert screened == text or screened == "／" + text.strip()[1:]


def test_rate_limiter_allows_the_limit_per_window_and_recovers():
    now = [0.0]
    limiter = RateLimiter(3, window=60, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # per key
    now[0] = 59.9
    assert not limiter.allow("a")
    now[0] = 60.0
    assert limiter.allow("a")


def test_rate_limiter_off_when_limit_is_zero():
    limiter = RateLimiter(0)
    assert all(limiter.allow("a") for _ in range(1000))


def _guard(**env):
    return Guard(settings.load({"RATE_LIMIT_PER_SENDER": "2", "MAX_MESSAGE_CHARS": "10", **env}))


def _send(guard: Guard, text, metadata=None):
    seen = []

    async def on_new_message(message):
        seen.append(message.text)

    out = CollectingOutputChannel()
    asyncio.run(guard.wrap(on_new_message)(UserMessage(text, out, "visitor-1", metadata=metadata)))
    return seen, [m.get("text") for m in out.messages]


def test_guard_answers_empty_long_and_fast_messages_without_passing_them_on():
    guard = _guard()
    assert _send(guard, "   ") == ([], [EMPTY])
    seen, said = _send(guard, "长" * 11)
    assert seen == [] and "11 字" in said[0] and "10 字" in said[0]
    assert _send(guard, "你好") == (["你好"], [])
    assert _send(guard, "/restart") == (["／restart"], [])
    assert _send(guard, "再问") == ([], [TOO_FAST])


def test_trusted_callers_keep_payloads_and_skip_the_rate_limit():
    guard = _guard(MAX_MESSAGE_CHARS="100")
    for _ in range(3):
        seen, said = _send(guard, "/ask_fees@0.1", {TRUSTED: TRUST})
        assert seen == ["/ask_fees@0.1"] and said == []
    # a client cannot claim trust with JSON: the marker is an object only the server holds
    assert _send(guard, "/ask_fees@0.1", {TRUSTED: True})[0] == ["／ask_fees@0.1"]
    assert _send(guard, "/ask_fees@0.1", {"_trusted": "yes"})[0] == ["／ask_fees@0.1"]
    assert _send(guard, "再问一次")[1] == [TOO_FAST]  # untrusted messages count: 2 a minute here
