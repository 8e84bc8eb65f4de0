"""The launcher refuses to start against unreachable databases, with one clear line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import PROJECT_ROOT


@pytest.mark.parametrize("variable, name", [("DATABASE_URL", "facts database"),
                                            ("TRACKER_STORE_URL", "tracker store")])
def test_unreachable_database_is_a_clear_error(tmp_path, variable, name):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'facts.db'}",
           "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
           variable: "postgresql://nobody:secret@127.0.0.1:9/absent?connect_timeout=2"}
    result = subprocess.run([sys.executable, "-m", "bot.run", "--no-train"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"error: {name}" in result.stderr and "unavailable" in result.stderr
    assert "Traceback" not in result.stderr
