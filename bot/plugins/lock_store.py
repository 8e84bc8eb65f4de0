"""Rasa's lock store chosen by the environment: in memory for one instance, Redis when REDIS_URL is set.

endpoints.yml names this class (``type: bot.plugins.lock_store.LockStore``) so the
same file serves one machine and several Rasa instances. The Redis case is
Rasa's own ``RedisLockStore`` with one fix: Rasa 3.6 changes a conversation's
ticket lock with a plain GET then SET, so two instances issuing tickets at
the same moment can both be "first" and process turns of one conversation
at once, and the SQL tracker store then drops one turn's events
(tests/e2e/test_scale_out.py caught it). Here each read-modify-write of the
ticket lock runs under a short Redis mutex.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Text
from urllib.parse import unquote, urlparse

from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, RedisLockStore

if TYPE_CHECKING:
    from redis.lock import Lock

from bot import settings as settings_module

KEY_PREFIX = "callcentre"
MUTEX_SECONDS = 10  # a ticket change takes milliseconds; the mutex expires if its holder dies


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store whose ticket changes are atomic across instances."""

    def _mutex(self, conversation_id: Text) -> Lock:
        return self.red.lock(
            f"{self.key_prefix}{conversation_id}:mutex", timeout=MUTEX_SECONDS, blocking_timeout=MUTEX_SECONDS
        )

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: Text) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)


class LockStore:
    """Build Rasa's in-memory or Redis lock store (Rasa calls ``LockStore(endpoint_config=…)``)."""

    # a factory that Rasa loads by class path: it returns one of Rasa's own lock stores, never a LockStore
    def __new__(  # type: ignore[misc]
        cls,
        endpoint_config: Any = None,
        redis_url: str | None = None,  # noqa: ARG003
    ) -> InMemoryLockStore | AtomicRedisLockStore:
        # settings refuse SANIC_WORKERS above 1 without REDIS_URL: Rasa would accept an in-memory lock store
        url = settings_module.current().redis_url if redis_url is None else redis_url
        if not url:
            return InMemoryLockStore()
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            # the scheme only: the rest of the URL may hold its password (S6)
            raise settings_module.SettingsError(
                f"REDIS_URL must start with redis:// or rediss://, got {parsed.scheme or 'no scheme'}://…"
            )
        db = parsed.path.strip("/")
        return AtomicRedisLockStore(
            host=parsed.hostname or "localhost",
            port=parsed.port or 6379,
            db=int(db) if db else 1,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            use_ssl=parsed.scheme == "rediss",
            key_prefix=KEY_PREFIX,
        )
