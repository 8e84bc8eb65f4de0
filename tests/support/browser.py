"""Debian's chromium (scripts/system-deps.sh installs it), driven headless by Playwright; no browser download."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.settings import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
MISSING = "Debian chromium is installed by make test"
# screenshots and timings the browser tests leave for a person to look at
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def chromium_missing() -> bool:
    return not Path(CHROMIUM).exists()
