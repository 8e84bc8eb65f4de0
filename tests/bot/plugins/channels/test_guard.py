"""The guard on public channels: which payloads pass, size and rate limits."""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import settings
from bot.plugins.channels.guard import (
    BAD_REQUEST,
    DOMAIN,
    EMPTY,
    TOO_FAST,
    TRUST,
    TRUSTED,
    Guard,
    allowed_payloads,
    screen,
)
from bot.plugins.nlu.normalize import Normalizer
from bot.ratelimit import RateLimiter


@pytest.mark.parametrize(
    "payload",
    [
        "/ask_capital",
        "/check_eligibility",
        "/request_consultant",
        "/affirm",
        "  /deny ",
        '/inform{"licence_scope": "地网"}',
        '/inform{"licence_scope":"全网"}',
        '/inform{"company_type": "外资"}',
    ],
)
def test_the_payloads_our_buttons_send_pass(payload):
    assert screen(payload) == payload.strip()


@pytest.mark.parametrize(
    "payload",
    [
        "/EXTERNAL_handoff_ended",  # would end a human takeover
        "/restart",
        "/session_start",
        "/back",  # Rasa's built-ins: not offered by any button
        "/ask_fees@0.1",  # a forged confidence
        '/inform{"lead_phone": "13800138000"}',  # an entity no button sends: would skip validation
        '/inform{"licence_scope": "地网", "capital": "1亿"}',
        "/inform{not json",
        "/",
        "/no_such_intent",
    ],
)
def test_other_payloads_become_text(payload):
    screened = screen(payload)
    assert screened.startswith("／") and not screened.startswith("/")
    assert screened[1:] == payload.strip()[1:]  # what the visitor typed is kept


@lru_cache(maxsize=1)
def _pipeline() -> tuple[Normalizer, Domain]:
    return Normalizer(), Domain.load(DOMAIN)


def unpacked(text: str, step: str = "normalize"):
    """What Rasa reads as a payload from ``text``: the NLU pipeline normalises it (bot/plugins/nlu/normalizer.py),
    then RegexMessageHandler unpacks ``/intent{entities}@confidence``; None when it reads words.
    ``step="fold"`` leaves out the normaliser's own leading-slash rule: the guard alone must hold."""
    normalizer, domain = _pipeline()
    message = YAMLStoryReader.unpack_regex_message(Message({TEXT: getattr(normalizer, step)(text)}), domain)
    intent = message.get(INTENT)
    if not intent:
        return None
    entities = {e["entity"]: e["value"] for e in message.get(ENTITIES) or []}
    return (
        intent["name"],
        json.dumps(entities, sort_keys=True, ensure_ascii=False) if entities else "",
        intent["confidence"],
    )


def approved() -> set:
    bare, with_entities = allowed_payloads()
    return {(intent, "", 1.0) for intent in bare} | {(intent, entities, 1.0) for intent, entities in with_entities}


def button_payloads() -> list[str]:
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    return sorted(
        {
            str(b["payload"]).replace("{{", "{").replace("}}", "}")
            for variants in domain["responses"].values()
            for v in variants
            for b in (v or {}).get("buttons") or []
        }
    )


def test_every_button_payload_is_still_read_as_itself():
    payloads = button_payloads()
    assert any("{" in p for p in payloads) and len(payloads) > 5
    for payload in payloads:
        assert screen(payload) == payload
        assert unpacked(screen(payload)) in approved(), payload


INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\ufeff",
    "\x00",
    "\x01",
    "\x08",
    "\x1b",
    "\x7f",
    "\ufe0e",
    "\ufe0f",
    "\U0001f3fb",
]
ATTACKS = [
    "/restart",
    "/EXTERNAL_handoff_ended",
    "/session_start",
    "/back",
    "/ask_fees@0.01",
    '/inform{"capital": 123456789}',
    '/inform{"province": "<b>x</b>", "capital": 99999}',
    '/inform{"licence_scope": "地网"}@0.2',
]


@pytest.mark.parametrize("prefix", INVISIBLE + ["／", "/", "／\u200b", "/\u200b", "\u200b／", "\u3000", " \u200b "])
@pytest.mark.parametrize("payload", ATTACKS)
def test_f03_a_character_the_normaliser_drops_does_not_smuggle_a_payload(prefix, payload):
    """F3: one zero-width, control, emoji-modifier or slash character before a payload no longer passes."""
    assert unpacked(screen(prefix + payload)) is None
    assert unpacked(screen(prefix + payload), "fold") is None


@pytest.mark.parametrize(
    "text",
    [
        "\u200b／restart",
        "／\u200b/restart",
        "／／/restart",
        "\u200b\u200b/restart",
        "\u200b/\u200b/restart",
        "\x01/EXTERNAL_handoff_ended",
        "\ufeff/restart",
    ],
)
def test_f03_layered_slashes_and_invisibles_stay_words(text):
    """F3: slashes the normaliser folds (／ → /) or uncovers (after dropping invisibles) are no payload."""
    assert unpacked(screen(text)) is None
    assert unpacked(screen(text), "fold") is None
    assert unpacked(text) is None  # the normaliser alone, too


SLASHES = st.sampled_from(["/", "／", "\u2100", "\u2215", "\u2044"])
NOISE = st.sampled_from(INVISIBLE + [" ", "\u3000", "\t", "\n", "😂", "\u200d"])
CORES = st.sampled_from(
    [
        "restart",
        "EXTERNAL_handoff_ended",
        "ask_capital",
        "ask_fees@0.3",
        "inform",
        'inform{"capital": 1}',
        'inform{"licence_scope": "地网"}',
        'inform{"licence_scope":"全网"}',
    ]
)


@st.composite
def payload_like(draw):
    """Texts built like payloads: slashes and invisible characters in any order before an intent."""
    parts = draw(st.lists(st.one_of(SLASHES, NOISE), max_size=6))
    return "".join(parts) + draw(CORES) + draw(st.text(max_size=5))


@given(st.one_of(payload_like(), st.text(max_size=200)))
@hsettings(max_examples=600, deadline=None)
def test_f03_whatever_is_sent_rasa_reads_an_offered_payload_or_words(text):
    """F3: for any text, what the NLU pipeline unpacks after the guard is a button's payload or nothing."""
    assert unpacked(screen(text)) in approved() | {None}
    assert unpacked(screen(text), "fold") in approved() | {None}  # each layer holds on its own


def test_f03_a_text_that_cannot_be_encoded_is_refused_politely():
    """F3: a lone surrogate (valid in JSON, not in UTF-8) gets the bad-request answer, not a crash."""
    assert _send(_guard(), "\ud800/restart") == ([], [BAD_REQUEST])
    assert unpacked(screen("\ud800/restart".encode("utf-8", "replace").decode())) is None
    assert isinstance(screen("\ud800/restart"), str)


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
