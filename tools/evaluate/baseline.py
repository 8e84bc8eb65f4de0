"""Rasa's stock pipeline trained on the same domain and data, and cross-validation of a pipeline."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterable

from bot.settings import PROJECT_ROOT
from tools import train
from tools.evaluate.cases import BASELINE_CONFIG, NLU_DATA


def _digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        for file in sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()):
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def train_baseline(out: Path, force: bool = False) -> Path:
    """Train a whole model with the stock pipeline on the project's domain and data (unless current)."""
    model, stamp = out / "baseline.tar.gz", out / "baseline.fingerprint"
    current = _digest([BASELINE_CONFIG, train.DOMAIN, *train.TRAINING_DATA])
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == current:
        print(f"stock model is up to date: {model.relative_to(PROJECT_ROOT)}")
        return model
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "--config",
            str(BASELINE_CONFIG),
            "--domain",
            str(train.DOMAIN),
            "--data",
            *map(str, train.TRAINING_DATA),
            "--out",
            str(out),
            "--fixed-model-name",
            "baseline",
            "--force",
        ],
        cwd=PROJECT_ROOT,
        check=True,
    )
    stamp.write_text(current + "\n")
    return model


def cross_validate(config: Path, out: Path, folds: int) -> dict:
    """Run Rasa's cross-validation on data/nlu with ``config``; return its intent summary."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "nlu",
            "--cross-validation",
            "--folds",
            str(folds),
            "--config",
            str(config),
            "--nlu",
            str(NLU_DATA),
            "--out",
            str(out),
            "--no-plot",
        ],
        cwd=PROJECT_ROOT,
        check=True,
    )
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    return {
        "accuracy": report.get("accuracy"),
        "weighted_f1": report["weighted avg"]["f1-score"],
        "macro_f1": report["macro avg"]["f1-score"],
        "folds": folds,
    }
