"""Train the Rasa model only when its inputs changed.

Usage: ``python -m bot.train [--force]``.

Rasa's own training cache does not notice edits to the jieba dictionary, so
the fingerprint here hashes every training input (config, domain, NLU data,
rules, stories, dictionary, lexicons and the project's NLU components) and retrains
with ``--force`` when it differs from the one stored beside the model.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from bot.settings import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "models"
MODEL_NAME = "assistant"
MODEL_PATH = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_PATH = MODEL_DIR / f"{MODEL_NAME}.fingerprint"
TIMING_PATH = MODEL_DIR / f"{MODEL_NAME}.train-seconds"  # read by the benchmark report

CONFIG = PROJECT_ROOT / "bot" / "config.yml"
DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"
TRAINING_DATA = [PROJECT_ROOT / "data" / name for name in ("nlu", "rules", "stories")]
# bot/plugins/nlu holds the pipeline's own components and the normaliser they run
INPUTS = [
    CONFIG,
    DOMAIN,
    *TRAINING_DATA,
    PROJECT_ROOT / "bot" / "dictionary",
    PROJECT_ROOT / "bot" / "lexicon",
    PROJECT_ROOT / "bot" / "plugins" / "nlu",
]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [path] if path.exists() else []


def fingerprint() -> str:
    """Hash the names and contents of every training input."""
    digest = hashlib.sha256()
    for root in INPUTS:
        for file in _files(root):
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def is_stale() -> bool:
    if not MODEL_PATH.exists() or not FINGERPRINT_PATH.exists():
        return True
    return FINGERPRINT_PATH.read_text().strip() != fingerprint()


def train(force: bool = False) -> bool:
    """Train if the model is missing or stale; return True when it trained."""
    if not force and not is_stale():
        print(f"model is up to date: {MODEL_PATH.relative_to(PROJECT_ROOT)}")
        return False
    current = fingerprint()
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        str(CONFIG),
        "--domain",
        str(DOMAIN),
        "--data",
        *map(str, TRAINING_DATA),
        "--out",
        str(MODEL_DIR),
        "--fixed-model-name",
        MODEL_NAME,
        "--force",  # Rasa's cache ignores dictionary edits: never restore from it
    ]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True)
    FINGERPRINT_PATH.write_text(current + "\n")
    seconds = time.monotonic() - started
    TIMING_PATH.write_text(f"{seconds:.1f}\n")
    print(f"trained {MODEL_PATH.relative_to(PROJECT_ROOT)} in {seconds:.0f} s")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="train even if the model is up to date")
    parser.add_argument("--check", action="store_true", help="only report whether the model is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = is_stale()
        print("stale" if stale else "up to date")
        return 1 if stale else 0
    try:
        train(force=args.force)
    except subprocess.CalledProcessError as exc:
        print(f"error: rasa train failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
