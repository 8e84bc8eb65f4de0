"""bot/rasa_api.py against a local fake of Rasa's HTTP API: errors without secrets, ids sent verbatim."""

from __future__ import annotations

import logging
import traceback

import pytest

from bot import rasa_api, settings
from tests.support.fake_rasa import TOKEN, FakeRasa
from tests.support.stack import free_port


@pytest.fixture
def fake():
    rasa = FakeRasa()
    yield rasa
    rasa.close()


def config(url: str) -> settings.Settings:
    return settings.load({"RASA_URL": url, "RASA_AUTH_TOKEN": TOKEN})


def _everything_said(exc: BaseException) -> str:
    """The messages a log line with a traceback (logger.exception) would print, chained exceptions included."""
    said = []
    while exc is not None:
        said += traceback.format_exception_only(type(exc), exc)
        exc = exc.__cause__ or exc.__context__
    return "".join(said)


@pytest.mark.parametrize("status", [404, 500])
def test_f01_an_error_answer_never_carries_the_token_or_the_query(fake, status):
    """F1: a refusal from Rasa is described by status and path only, with no token anywhere in the traceback."""
    fake.status = status
    with pytest.raises(rasa_api.RasaUnavailable) as caught:
        rasa_api.append_events("visitor-1", [{"event": "resume"}], config(fake.url), output_channel="socketio")
    said = _everything_said(caught.value)
    assert TOKEN not in said and "token=" not in said and "output_channel" not in said
    assert str(status) in str(caught.value) and "/tracker/events" in str(caught.value)


def test_f01_an_unreachable_rasa_never_carries_the_token(caplog):
    """F1: connection errors (which name the full URL in requests) are described without it."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(rasa_api.RasaUnavailable) as caught:
        rasa_api.tracker("visitor-1", config(f"http://127.0.0.1:{free_port()}"))
    assert TOKEN not in _everything_said(caught.value)
    assert "could not reach" in str(caught.value)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    "conversation_id",
    [
        "..",
        ".",
        "x#",
        "x?",
        "x#/tracker",
        "a/b",
        "pt-ho-%32",
        "%2e%2e",
        "x y",
        "x\n",
        "x\x00",
        "",
        "张三",
        "a" * 256,
        None,
        12,
    ],
)
def test_n01_ids_that_would_change_on_the_way_are_refused_before_any_request(fake, conversation_id):
    """N1: an id Rasa would read differently (path tricks, escapes, controls) is refused, not sent."""
    with pytest.raises(rasa_api.InvalidConversationId):
        rasa_api.tracker(conversation_id, config(fake.url))
    with pytest.raises(rasa_api.InvalidConversationId):
        rasa_api.trigger_intent(conversation_id, "EXTERNAL_handoff_ended", config(fake.url))
    assert fake.paths == []


@pytest.mark.parametrize(
    "conversation_id",
    [
        "0123456789abcdef0123456789abcdef",
        "oAbCdEfGhIjKlMnOpQrStUvWx_-9",
        "rest-visitor.1~",
        "crm:42@example.com",
        "a!$&'()*+,;=b",
    ],
)
def test_n01_addressable_ids_reach_rasa_verbatim(fake, conversation_id):
    """N1: widget ids, WeChat OpenIDs and ordinary REST senders arrive in the path exactly as they are."""
    rasa_api.append_events(conversation_id, [{"event": "resume"}], config(fake.url))
    [path] = fake.paths
    assert path.split("?")[0] == f"/conversations/{conversation_id}/tracker/events"
