"""Train the Rasa model only when its inputs changed.

Usage: ``python -m tools.train [--force] [--seed N]``.

``--seed N`` trains a copy of the model whose DIET and TED start from seed N instead of the config's
(models/seeds/assistant-seed-N.tar.gz): a stand-in for the model another machine would train, so the
tests and `make eval` can be run against several (docs/nlu.md, "Spread over trainings").
A training is reproducible on one machine: the seeds come from the config, and TensorFlow's thread
counts and Python's hash seed are pinned (``TRAINING_ENV``) rather than left to the machine.

Rasa's own training cache does not notice edits to the jieba dictionary, so
the fingerprint here hashes every training input (config, domain, NLU data,
rules, stories, dictionary, lexicons and the project's NLU components) and retrains
with ``--force`` when it differs from the one stored beside the model.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

MODEL_DIR = PROJECT_ROOT / "models"
MODEL_NAME = "assistant"
MODEL_PATH = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_PATH = MODEL_DIR / f"{MODEL_NAME}.fingerprint"
TIMING_PATH = MODEL_DIR / f"{MODEL_NAME}.train-seconds"  # read by the benchmark report
SEED_DIR = MODEL_DIR / "seeds"
# what a training's result may depend on besides its inputs and seeds: pinned, not the machine's
TRAINING_ENV = {
    "TF_INTER_OP_PARALLELISM_THREADS": "2",
    "TF_INTRA_OP_PARALLELISM_THREADS": "2",
    "PYTHONHASHSEED": "0",
}

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


def seeded_config(seed: int, out: Path) -> Path:
    """Write the config with every ``random_seed`` (DIET, TED) set to ``seed``; return its path."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for component in [*config.get("pipeline", []), *config.get("policies", [])]:
        if "random_seed" in component:
            component["random_seed"] = seed
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def seed_model_path(seed: int) -> Path:
    return SEED_DIR / f"{MODEL_NAME}-seed-{seed}.tar.gz"


def train(force: bool = False, seed: int | None = None) -> bool:
    """Train if the model is missing or stale; return True when it trained.

    With ``seed``, train the seeded copy (``seed_model_path``) whenever asked.
    """
    if seed is None and not force and not is_stale():
        print(f"model is up to date: {MODEL_PATH.relative_to(PROJECT_ROOT)}")
        return False
    current = fingerprint()
    started = time.monotonic()
    config, out, name = CONFIG, MODEL_DIR, MODEL_NAME
    if seed is not None:
        config = seeded_config(seed, SEED_DIR / f"config-seed-{seed}.yml")
        out, name = SEED_DIR, seed_model_path(seed).name.removesuffix(".tar.gz")
    command = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        str(config),
        "--domain",
        str(DOMAIN),
        "--data",
        *map(str, TRAINING_DATA),
        "--out",
        str(out),
        "--fixed-model-name",
        name,
        "--force",  # Rasa's cache ignores dictionary edits: never restore from it
    ]
    from bot import quiet

    env = {**os.environ, **TRAINING_ENV, "PYTHONWARNINGS": quiet.pythonwarnings()}
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, env=env)
    seconds = time.monotonic() - started
    if seed is None:
        FINGERPRINT_PATH.write_text(current + "\n")
        TIMING_PATH.write_text(f"{seconds:.1f}\n")
    print(f"trained {(out / (name + '.tar.gz')).relative_to(PROJECT_ROOT)} in {seconds:.0f} s")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="train even if the model is up to date")
    parser.add_argument("--check", action="store_true", help="only report whether the model is stale")
    parser.add_argument("--seed", type=int, help="train models/seeds/assistant-seed-N.tar.gz with this seed")
    args = parser.parse_args(argv)
    if args.check:
        stale = is_stale()
        print("stale" if stale else "up to date")
        return 1 if stale else 0
    try:
        train(force=args.force, seed=args.seed)
    except subprocess.CalledProcessError as exc:
        print(f"error: rasa train failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
