"""Conversation tests (tests/e2e/test_stories.yml) with Rasa's own test runner."""

import subprocess
import sys

from bot.settings import PROJECT_ROOT
from tools import train


def test_stories_pass(stack, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "core",
            "--model",
            stack.env.get("RASA_MODEL") or str(train.MODEL_PATH),  # the model the stack serves
            "--stories",
            "tests/e2e/test_stories.yml",
            "--endpoints",
            "bot/endpoints.yml",
            "--out",
            str(tmp_path),
            "--fail-on-prediction-errors",
        ],
        cwd=PROJECT_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    failed = tmp_path / "failed_test_stories.yml"
    assert result.returncode == 0, (failed.read_text(encoding="utf-8") if failed.exists() else "") + result.stderr[
        -3000:
    ]
