"""The realistic set played through the whole assistant: one fresh conversation per case."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.evaluate.cases import Case
from tools.evaluate.judge import CaseResult, Outcome, classify, judge


def converse(stack: Any, case: Case, sender: str) -> Outcome:
    """Play ``case`` as a fresh conversation and classify the reply to its last message."""
    import requests

    headers = {"Authorization": f"Bearer {stack.token}"}  # trusted: the guard's visitor limits do not apply
    try:
        for message in case.turns:
            response = requests.post(
                f"{stack.rasa_url}/webhooks/rest/webhook",
                headers=headers,
                json={"sender": sender, "message": message},
                timeout=180,
            )
            response.raise_for_status()
        tracker = requests.get(
            f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=60
        )
        tracker.raise_for_status()
    except requests.RequestException as exc:
        return Outcome("error", texts=[f"{type(exc).__name__}"])
    return classify(tracker.json())


def run_realistic(model: Path, cases: list[Case], work: Path, workers: int) -> tuple[list[CaseResult], float]:
    """Start the whole assistant on ``model``, play every case, stop it; return the results and start-up seconds."""
    from bench.stack import start_stack
    from tests.support.stack import stop, wait_ready

    work.mkdir(parents=True, exist_ok=True)
    for name in ("facts.db", "tracker.db"):  # every run starts from empty conversations
        (work / name).unlink(missing_ok=True)
    stack = start_stack(model, work, BUSINESS_HOURS="0-24", BUSINESS_DAYS="1,2,3,4,5,6,7")
    try:
        started_in = wait_ready(stack)
        run = f"{int(time.time())}"
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda c: converse(stack, c, f"eval-{run}-{c.id}"), cases))
    finally:
        stop(stack)
    return [CaseResult(c, o, judge(c, o)) for c, o in zip(cases, outcomes, strict=True)], round(started_in)
