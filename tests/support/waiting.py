"""Waiting for events, not for time: ``eventually`` for what should happen.

For what should *not* happen, a test waits for a probe instead of sleeping: something that happens
after the unwanted event would have (the reply to a later message on the same channel, a later line
in the same log, the outbox rows done), then asserts.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import requests

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something true, and return that; fail after ``timeout`` seconds.

    A check may also raise AssertionError (or a requests error, while a service restarts) to say
    "not yet"; the last such error is the failure's message.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (AssertionError, requests.RequestException) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {last!r}")
        time.sleep(interval)
