"""The socket.io channel's checks, driven in-process: sessions, rooms, limits, and the Redis manager's format."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import uuid
from types import SimpleNamespace

import pytest
import redis

from bot import widget_session
from bot.plugins.channels import public
from bot.plugins.channels.guard import BAD_REQUEST, TOO_FAST
from tests.support.servers import redis_server

SECRET = "unit-widget-secret"


def signed() -> tuple[str, str]:
    session_id = uuid.uuid4().hex
    return session_id, widget_session.token(SECRET, session_id)


@pytest.fixture
def channel(monkeypatch):
    """The channel's socket.io server as Rasa builds it, with sockets connected by hand and emits recorded."""
    for name, value in {
        "WIDGET_SECRET": SECRET,
        "RATE_LIMIT_PER_IP": "30",
        "REDIS_URL": "",
        "CORS_ORIGINS": "https://www.customer.example",
        "MAX_MESSAGE_CHARS": "1000",
        "RASA_PUBLIC_URL": "https://assistant.example/",
    }.items():
        monkeypatch.setenv(name, value)
    public._widget_secret.cache_clear()
    received = []

    async def on_new_message(message):
        received.append(message)

    channel = public.SocketIOInput.from_credentials({"session_persistence": True})
    channel.blueprint(on_new_message)
    sio = channel.sio
    emitted = []

    async def emit(event, data=None, room=None, namespace=None, **_):
        emitted.append((event, data, room))

    monkeypatch.setattr(sio, "emit", emit)

    def connect(ip: str = "203.0.113.7") -> str:
        eio_sid = uuid.uuid4().hex
        sid = sio.manager.connect(eio_sid, "/")
        sio.environ[eio_sid] = {"sanic.request": SimpleNamespace(remote_addr=ip, ip=ip)}
        return sid

    async def event(name, sid, data):
        await sio.handlers["/"][name](sid, data)

    yield SimpleNamespace(sio=sio, emitted=emitted, received=received, connect=connect, event=event)
    public._widget_secret.cache_clear()


def said(channel, sid) -> list:
    return [data.get("text") for event, data, room in channel.emitted if event == "bot_uttered" and room == sid]


def confirmed(channel, sid) -> list:
    return [data for event, data, room in channel.emitted if event == "session_confirm" and room == sid]


async def test_f04_one_socket_holds_one_session_however_many_it_asks_for(channel):
    """F4: every session_request entered one more room until disconnect; now the previous room is left."""
    sid = channel.connect()
    sessions = [signed() for _ in range(20)]
    for session_id, token in sessions:
        await channel.event("session_request", sid, {"session_id": session_id, "token": token})
    assert confirmed(channel, sid) == [s for s, _ in sessions]
    assert set(channel.sio.rooms(sid, "/")) == {sid, sessions[-1][0]}
    assert set(channel.sio.manager.rooms["/"]) == {None, sid, sessions[-1][0]}  # nothing left behind


@pytest.mark.parametrize(
    "data",
    [
        None,
        "x",
        ["a"],
        {},
        {"session_id": "a" * 32},  # no token
        {"session_id": "a" * 32, "token": "0" * 64},  # a wrong one
        {"session_id": "a" * 32, "token": widget_session.token(SECRET, "b" * 32)},  # another session's
        {"session_id": "A" * 32, "token": widget_session.token(SECRET, "A" * 32)},  # not an id the web app issues
        {"session_id": "s" * 1_000_000, "token": widget_session.token(SECRET, "s" * 1_000_000)},
        {"session_id": {"$gt": ""}, "token": "x"},
        {"session_id": "a" * 32, "token": "é"},
        {"session_id": "a" * 32, "token": ["x"]},
    ],
)
async def test_f04_f05_a_session_needs_its_signed_token(channel, data):
    """F4, F5: an id alone (or any other id, type or size) opens no room and confirms nothing."""
    sid = channel.connect()
    await channel.event("session_request", sid, data)
    assert confirmed(channel, sid) == []
    assert said(channel, sid) == [public.SESSION_REFUSED]
    assert channel.sio.rooms(sid, "/") == [sid]


async def test_f04_session_requests_count_against_the_per_address_limit(channel):
    """F4: session_request was unlimited; now it shares RATE_LIMIT_PER_IP with the messages."""
    sid = channel.connect("198.51.100.9")
    for _ in range(30):
        await channel.event("session_request", sid, dict(zip(("session_id", "token"), signed(), strict=True)))
    assert len(confirmed(channel, sid)) == 30
    session_id, token = signed()
    await channel.event("session_request", sid, {"session_id": session_id, "token": token})
    assert len(confirmed(channel, sid)) == 30 and said(channel, sid) == [TOO_FAST]
    other = channel.connect("198.51.100.10")  # per address
    await channel.event("session_request", other, {"session_id": session_id, "token": token})
    assert confirmed(channel, other) == [session_id]


async def test_f05_messages_only_for_the_session_the_socket_holds(channel):
    """F5: user_uttered named any session_id; now only the one this socket proved it holds."""
    mine, token = signed()
    victim, _ = signed()
    sid = channel.connect()
    await channel.event("user_uttered", sid, {"message": "你好", "session_id": mine})  # before session_request
    await channel.event("session_request", sid, {"session_id": mine, "token": token})
    await channel.event("user_uttered", sid, {"message": "以访客身份发送", "session_id": victim})
    await channel.event("user_uttered", sid, {"message": "注册资本要多少", "session_id": mine})
    await channel.event("user_uttered", sid, {"message": "你好"})
    assert said(channel, sid) == [public.SESSION_REFUSED, public.SESSION_REFUSED, BAD_REQUEST]
    assert [(m.sender_id, m.text) for m in channel.received] == [(mine, "注册资本要多少")]
    assert channel.received[0].input_channel == "socketio"


def test_i3_browsers_only_from_the_allowed_sites_and_frames_of_a_few_kb(channel):
    """I3, N11, F4: Rasa's socket.io took any Origin and frames up to 1 MB."""
    eio = channel.sio.eio
    assert eio.cors_allowed_origins == ["https://assistant.example", "https://www.customer.example"]
    assert eio.max_http_buffer_size == 8 * 1024
    refused = eio._cors_allowed_origins({"HTTP_ORIGIN": "https://evil.example"})
    assert "https://evil.example" not in refused and "https://www.customer.example" in refused


@pytest.mark.stack
async def test_cve_2025_61765_the_redis_channel_carries_json_and_never_unpickles(tmp_path):
    """CVE-2025-61765: python-socketio 5.9 unpickled what it read from Redis; the manager here reads JSON only."""
    from bidict import bidict

    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    # a server of this test's own: the listener's thread stops when it does, so the loop can close
    with redis_server() as redis_url:
        manager = public.JsonRedisManager(redis_url, channel="socketio-test")
        manager.rooms = {"/": {"room-a": bidict({"sid-1": "eio-1"}), "room-b": bidict({"sid-2": "eio-2"})}}
        listening = asyncio.ensure_future(manager._thread())  # the loop every instance runs
        raw = redis.Redis.from_url(redis_url)
        deadline = asyncio.get_running_loop().time() + 10
        while raw.pubsub_numsub("socketio-test")[0][1] < 1 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)  # the listener runs on this loop: let it subscribe
        assert raw.publish("socketio-test", pickle.dumps(Exploit())) == 1
        raw.publish("socketio-test", pickle.dumps({"method": "close_room", "room": "room-b", "namespace": "/"}))
        raw.publish("socketio-test", b"\x80\x04not json either")
        await manager._publish({"method": "close_room", "room": "room-a", "namespace": "/"})
        deadline = asyncio.get_running_loop().time() + 10
        while "room-a" in manager.rooms.get("/", {}) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert not marker.exists()  # the pickle did not run
        assert "room-a" not in manager.rooms.get("/", {})  # JSON from another instance is obeyed
        assert "room-b" in manager.rooms.get("/", {})  # a pickle is not read at all
        # what another instance reads from Redis is plain JSON
        pubsub = raw.pubsub()
        pubsub.subscribe("socketio-test")
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"
        await manager._publish({"method": "close_room", "room": "r", "namespace": "/"})
        published = pubsub.get_message(timeout=2)
        assert json.loads(published["data"]) == {"method": "close_room", "room": "r", "namespace": "/"}
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await manager.pubsub.close()  # the listener's connection, then the publisher's pool
        await manager.redis.connection_pool.disconnect()
        raw.close()
        pubsub.close()
