"""Benchmark: the normaliser's cost on the worst messages we know, at the channel's maximum length.

Usage: ``python -m bench.normalize [--chars 1000]`` (``make bench``). Every public message goes through
``Normalizer.fold`` in the guard, inside Rasa's event loop (S1 in docs/security.md): its cost must stay
linear in the message's length. Tries every filler word and greeting repeated (alone, with separators,
ended by a character that is no filler), digit and space runs, and prints the slowest in microseconds,
with the same message at a quarter and half the length to show the growth. Writes
bench/results/normalize.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from bot.plugins.nlu.normalize import DEFAULT_FILLERS, Normalizer

OUT = Path(__file__).resolve().parent / "results"


def fill(unit: str, end: str, length: int) -> str:
    """``unit`` repeated, then ``end``: ``length`` characters in all."""
    return (unit * (length // max(len(unit), 1) + 1))[: length - len(end)] + end


def hostile_units() -> list[tuple[str, str]]:
    """(repeated unit, end) pairs: each filler word alone, with separators, ended by what is no filler."""
    table = yaml.safe_load(DEFAULT_FILLERS.read_text(encoding="utf-8")) or {}
    words = [str(w) for key in ("words", "greetings", "repeated") for w in table.get(key) or []]
    pairs = [(w + sep, end) for w in words for sep in ("", " ", "，") for end in ("好", "x", "，", "")]
    pairs += [("1", "x"), ("1 ", "x"), ("1.", "万"), (" ", "x"), ("a ", "好"), ("一", "x"), ("/", "x")]
    return pairs


def seconds(normalizer: Normalizer, text: str, repeat: int = 5) -> float:
    """The best of ``repeat`` runs of ``fold`` (the guard's call)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        normalizer.fold(text)
        best = min(best, time.perf_counter() - started)
    return best


def worst(normalizer: Normalizer, length: int) -> tuple[str, str]:
    """The (unit, end) pair whose message of ``length`` characters takes longest."""
    return max(hostile_units(), key=lambda pair: seconds(normalizer, fill(*pair, length), repeat=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000)
    args = parser.parse_args(argv)
    normalizer = Normalizer()
    unit, end = worst(normalizer, args.chars)
    lengths = sorted({max(args.chars // 4, 1), max(args.chars // 2, 1), args.chars})
    micros = {n: round(seconds(normalizer, fill(unit, end, n)) * 1e6) for n in lengths}
    report = {"unit": unit, "end": end, "microseconds": micros}
    OUT.mkdir(exist_ok=True)
    (OUT / "normalize.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    growth = ", ".join(f"{n} chars {us} µs" for n, us in micros.items())
    print(f"normaliser, worst input found ({unit!r} repeated, then {end!r}): {growth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
