"""The lock store endpoints.yml names: in memory by default, atomic Redis tickets with REDIS_URL."""

from __future__ import annotations

import threading

import pytest
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore

from bot.plugins.lock_store import AtomicRedisLockStore, LockStore
from bot.settings import SettingsError


def test_in_memory_without_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert isinstance(LockStore(endpoint_config=None), InMemoryLockStore)


def test_redis_url_is_parsed(redis_url):
    store = LockStore(redis_url=redis_url.replace("/0", "/3"))
    assert isinstance(store, AtomicRedisLockStore)
    kwargs = store.red.connection_pool.connection_kwargs
    assert kwargs["db"] == 3 and kwargs["host"] == "127.0.0.1"
    with pytest.raises(SettingsError):
        LockStore(redis_url="http://127.0.0.1:6379")


def _tickets(store_class, redis_url, conversation: str) -> list[int]:
    """Issue tickets for one conversation from 8 threads, each with its own store (like 8 instances)."""
    stores = [
        store_class(host="127.0.0.1", port=int(redis_url.rsplit(":", 1)[1].split("/")[0]), db=2) for _ in range(8)
    ]
    barrier, issued = threading.Barrier(8), []

    def issue(store):
        barrier.wait()
        for _ in range(5):
            issued.append(store.issue_ticket(conversation, 60))

    threads = [threading.Thread(target=issue, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return issued


def test_tickets_issued_at_once_by_several_instances_are_unique(redis_url):
    issued = _tickets(AtomicRedisLockStore, redis_url, "atomic")
    assert sorted(issued) == list(range(40))


def test_rasas_own_redis_lock_store_hands_out_duplicate_tickets(redis_url):
    # why AtomicRedisLockStore exists: GET then SET lets two instances both be "first in line"
    duplicates = 0
    for attempt in range(5):
        issued = _tickets(RedisLockStore, redis_url, f"plain-{attempt}")
        duplicates += len(issued) - len(set(issued))
    assert duplicates > 0


def test_several_workers_without_redis_are_refused(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SANIC_WORKERS", "2")
    with pytest.raises(SettingsError, match="REDIS_URL"):
        LockStore(endpoint_config=None)


def test_several_workers_with_redis_share_it(monkeypatch, redis_url):
    monkeypatch.setenv("SANIC_WORKERS", "2")
    assert isinstance(LockStore(redis_url=redis_url), AtomicRedisLockStore)
