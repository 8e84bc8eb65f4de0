"""The conversation-length curve: one visitor, one long conversation, the cost of each turn by its position.

``measure_curve`` sends ``messages`` messages in one conversation (the benchmark's
conversations one after another, as a loyal WeChat follower whose conversation
never ends) and reports the median turn per block of 40 messages and the ratio
of the last block to the first: a flat per-turn cost gives a ratio near 1.
``profile_curve`` then goes on with the same conversation under py-spy, so the
profile shows where a late turn's time goes.
"""

from __future__ import annotations

import statistics
import time
from itertools import cycle
from typing import Callable, Optional

import requests

BLOCK = 40
MESSAGES = 200


def texts() -> list[str]:
    """What the long conversation's visitor says, in order: every benchmark conversation, one after another."""
    from bench.load import CONVERSATIONS

    return [text for conversation in CONVERSATIONS for text in conversation]


def say(url: str, sender: str, text: str, session: requests.Session) -> Optional[float]:
    """Send one message on the REST channel; return the seconds until the reply, None if there was none."""
    started = time.perf_counter()
    try:
        response = session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        replied = response.status_code == 200 and bool(response.json())
    except (requests.RequestException, ValueError):
        replied = False
    return time.perf_counter() - started if replied else None


def blocks(latencies: list[Optional[float]], size: int = BLOCK) -> list[dict]:
    """The median turn (ms) of each block of ``size`` messages (1–40, 41–80, …) and its turns without a reply."""
    result = []
    for start in range(0, len(latencies), size):
        block = latencies[start : start + size]
        answered = [latency for latency in block if latency is not None]
        result.append(
            {
                "messages": f"{start + 1}–{start + len(block)}",
                "median_ms": round(statistics.median(answered) * 1000, 1) if answered else 0.0,
                "errors": len(block) - len(answered),
            }
        )
    return result


def measure_curve(url: str, sender: str, messages: int = MESSAGES, cpu: Optional[Callable[[], float]] = None) -> dict:
    """Send ``messages`` messages in one conversation; the median per block and last block ÷ first block.

    ``cpu`` (Rasa's CPU seconds so far) adds each block's CPU time per turn, which other load on the
    machine hardly changes."""
    session = requests.Session()
    script = cycle(texts())
    latencies: list[Optional[float]] = []
    cpu_ms: list[float] = []
    for start in range(0, messages, BLOCK):
        before = cpu() if cpu else 0.0
        size = min(BLOCK, messages - start)
        latencies += [say(url, sender, next(script), session) for _ in range(size)]
        cpu_ms.append(round(1000 * ((cpu() if cpu else 0.0) - before) / size, 1))
    per_block = blocks(latencies)
    if cpu:
        for block, used in zip(per_block, cpu_ms, strict=True):
            block["rasa_cpu_ms"] = used
    first, last = per_block[0]["median_ms"], per_block[-1]["median_ms"]
    result = {
        "messages": messages,
        "errors": sum(block["errors"] for block in per_block),
        "blocks": per_block,
        "last_over_first": round(last / first, 2) if first else 0.0,
    }
    if cpu and cpu_ms[0]:
        result["cpu_last_over_first"] = round(cpu_ms[-1] / cpu_ms[0], 2)
    return result


def keep_talking(url: str, sender: str, start: int, messages: int) -> Callable[[], None]:
    """A function that goes on with ``sender``'s conversation for ``messages`` more messages."""

    def talk() -> None:
        session = requests.Session()
        script = texts()
        for number in range(start, start + messages):
            say(url, sender, script[number % len(script)], session)

    return talk
