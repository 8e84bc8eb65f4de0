"""Debian's chromium (scripts/system-deps.sh installs it), driven headless by Playwright; no browser download."""
from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
MISSING = "Debian chromium is installed by make test"


def chromium_missing() -> bool:
    return not Path(CHROMIUM).exists()
