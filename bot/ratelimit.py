"""Count requests per key (a sender, an IP address) and refuse those over a limit.

In memory per process by default; with ``REDIS_URL`` set, counters live in
Redis so every Rasa instance and web worker shares them. (The ``limits``
library would be the obvious choice, but every release needs
``packaging>=21`` and Rasa 3.6 pins ``packaging<21``.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # redis is imported only when REDIS_URL is set
    import redis

logger = logging.getLogger(__name__)

MAX_KEYS = 50_000  # past this many keys in memory, idle ones are dropped


class RateLimiter:
    """Allow at most ``limit`` hits per key in any ``window`` seconds (0 turns it off)."""

    def __init__(
        self,
        limit: int,
        window: float = 60,
        redis_url: str | None = None,
        prefix: str = "ratelimit",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.prefix = limit, window, prefix
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._redis: redis.Redis | None = None
        if redis_url and limit:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def allow(self, key: str) -> bool:
        """Count one hit for ``key``; return whether it is within the limit."""
        if not self.limit:
            return True
        if self._redis is not None:
            return self._allow_redis(self._redis, key)
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_KEYS:
                    self._forget_idle(now)
                hits = self._hits[key] = deque()
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] >= self.window]:
            del self._hits[key]

    def _allow_redis(self, client: redis.Redis, key: str) -> bool:
        # fixed windows: one counter per key and window, expiring with it
        bucket = int(time.time() // self.window)
        name = f"{self.prefix}:{key}:{bucket}"
        try:
            pipe = client.pipeline()
            pipe.incr(name)
            pipe.expire(name, int(self.window) + 1)
            count, _ = pipe.execute()
        except Exception as exc:  # Redis down: serve visitors rather than refuse everyone
            logger.warning("rate limiter cannot reach Redis (%s); allowing", type(exc).__name__)
            return True
        return count <= self.limit
