"""S1: whatever one message costs, other visitors' turns go on.

Twenty ordinary visitors ask their questions on the REST channel twice: alone, then while a hostile visitor sends,
back to back, the slowest messages we can build at the channel's maximum length (S1's filler run, the
normaliser's worst input from bench/normalize.py, a question stuffed with every kind of entity). The ordinary
visitors' p95 must stay what it was, within the noise of a loaded machine. Before S1 was fixed the first hostile
message stopped Rasa's event loop for hours: every ordinary turn timed out.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import requests

from bench.normalize import fill, worst
from bot import settings
from bot.plugins.nlu.normalize import Normalizer
from tests.support.waiting import eventually

REST = "/webhooks/rest/webhook"
VISITORS = 20
QUESTIONS = ["注册资本要多少", "全网和地网有什么区别", "需要哪些材料"]
TIMEOUT = 30  # seconds: a turn that takes longer counts as lost
MAX_CHARS = settings.load({}).max_message_chars


def hostile_messages() -> list[str]:
    """The slowest messages we know of, each as long as the channel takes."""
    unit, end = worst(Normalizer(), MAX_CHARS)
    stuffed = "我们在北京上海广东浙江江苏做外资呼叫中心注册资本1000万能办全网吗？"  # entities, digits, a question
    return ["急" * (MAX_CHARS - 1) + "好", fill(unit, end, MAX_CHARS), fill(stuffed, "", MAX_CHARS)]


def ask(stack, sender: str, message: str) -> float:
    """Seconds until the REST channel answers; ``inf`` when it does not answer in time or fails."""
    started = time.monotonic()
    try:
        response = requests.post(
            f"{stack.rasa_url}{REST}", json={"sender": sender, "message": message}, timeout=TIMEOUT
        )
    except requests.RequestException:
        return float("inf")
    return time.monotonic() - started if response.ok else float("inf")


def ordinary_round(stack) -> list[float]:
    """Each of twenty visitors asks three questions, one after another, all visitors at once."""
    latencies: list[float] = []
    lock = threading.Lock()

    def visitor() -> None:
        sender = f"sec-s01-{uuid.uuid4().hex[:12]}"
        for question in QUESTIONS:
            seconds = ask(stack, sender, question)
            with lock:
                latencies.append(seconds)

    threads = [threading.Thread(target=visitor) for _ in range(VISITORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * len(QUESTIONS) + 10)
    return latencies


def p95(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=20, method="inclusive")[-1]


def test_s01_a_hostile_visitor_does_not_slow_the_others(stack):
    """S1: the ordinary visitors' p95 with a hostile sender alongside is within 2× (or +300 ms) of it without."""
    messages = hostile_messages()
    ordinary_round(stack)  # warm up: the first turns load what each pipeline step loads once
    alone = ordinary_round(stack)
    hostile: list[float] = []
    stop = threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            for message in messages:  # a fresh sender each time: the per-conversation rate limit is no defence
                hostile.append(ask(stack, f"sec-hostile-{uuid.uuid4().hex[:12]}", message))

    thread = threading.Thread(target=attacker)
    thread.start()
    try:
        eventually(lambda: hostile, TIMEOUT)  # the attack is under way (answered once) before the visitors come
        together = ordinary_round(stack)
    finally:
        stop.set()
        thread.join(TIMEOUT * len(messages) + 10)
    assert len(alone) == len(together) == VISITORS * len(QUESTIONS)
    assert max(alone) < TIMEOUT and hostile, (alone, hostile)
    before, during = p95(alone), p95(together)
    print(f"p95 alone {before:.3f} s, beside the hostile visitor {during:.3f} s; hostile turns {sorted(hostile)}")
    assert during <= max(2 * before, before + 0.3), f"p95 {before:.3f} s alone, {during:.3f} s beside {hostile}"
    assert max(hostile) < TIMEOUT  # the hostile messages themselves are answered too
