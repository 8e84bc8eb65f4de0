"""The stack under load: started as the tests start it, and what its services use.

``python -m services.run`` on free ports with fresh databases (tests/support/stack.py: the benchmark starts
the stack exactly as the tests do, so it runs from a checkout of the project, like `make bench`); the
resident memory and CPU time of each service it started, found under the launcher's process id.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests

from tests.support.stack import Stack, stack_pids, start

SERVICES = {
    "rasa": "-m services.serve rasa",
    "actions": "-m services.serve actions",
    "web": "-m services.serve web",
    "notify": "-m services.serve notifier",
    "launcher": "-m services.run",
}


def start_stack(model: Path, work: Path, **extra: str) -> Stack:
    """Start `python -m services.run` with ``model`` and fresh SQLite databases under ``work`` (or ``extra``'s)."""
    return start(
        work,
        {
            "APP_ENV": "development",
            "RASA_MODEL": str(model),
            "WIDGET_SECRET": "bench",
            "CONSOLE_SECRET": "bench",
            # every simulated visitor comes from 127.0.0.1 and types faster than a person: limits off
            "RATE_LIMIT_PER_IP": "0",
            "HANDOFF_MAX_PER_ADDRESS": "0",
            "RATE_LIMIT_PER_SENDER": "0",
            **extra,
        },
    )


def rss_by_service(stack: Stack) -> dict[str, float]:
    """Resident memory (MB) of the launcher and each service it started."""
    sizes: dict[str, float] = {}
    for pid in stack_pids(stack):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        for name, marker in SERVICES.items():
            if marker in cmdline:
                sizes[name] = sizes.get(name, 0) + kb / 1024
                break
    return sizes


def cpu_by_service(stack: Stack) -> dict[str, float]:
    """CPU seconds (user and system) each service has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid in stack_pids(stack):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for name, marker in SERVICES.items():
            if marker in cmdline:
                used[name] = used.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                break
    return used


def warm_up(running: Stack) -> None:
    for text in ("你好", "注册资本要多少"):
        requests.post(
            f"{running.rasa_url}/webhooks/rest/webhook", json={"sender": "warm-up", "message": text}, timeout=60
        )


def rasa_pid(stack: Stack) -> int | None:
    """The process id of ``stack``'s Rasa server."""
    for pid in stack_pids(stack):
        try:
            if SERVICES["rasa"] in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                return pid
        except OSError:
            continue
    return None
