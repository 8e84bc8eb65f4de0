"""``python -m tools.evaluate`` (what ``make eval`` calls): train if stale, score every set, write the report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

from bot.settings import PROJECT_ROOT
from tools import train
from tools.evaluate.baseline import cross_validate, train_baseline
from tools.evaluate.cases import BASELINE_CONFIG, INTENT_SETS, load_cases, read_examples
from tools.evaluate.intents import score_intent_sets, score_variations, spread
from tools.evaluate.judge import summarise
from tools.evaluate.report import case_rows, criteria, render
from tools.evaluate.stack import run_realistic

OUT = PROJECT_ROOT / "results" / "eval"

# The stock DIET (2 transformer layers of 256) trains several times slower than ours (1 of 128): its
# cross-validation uses fewer folds by default so that `make eval` stays near 30-40 minutes on 2 cores.
STOCK_FOLDS = 3


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (training, the stack)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument(
        "--baseline-folds",
        type=int,
        default=STOCK_FOLDS,
        help=f"cross-validation folds for the stock pipeline (default {STOCK_FOLDS}: it trains slowly)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip Rasa's stock pipeline")
    parser.add_argument("--no-cross-validation", action="store_true")
    parser.add_argument("--no-realistic", action="store_true", help="skip the realistic set (no stack)")
    parser.add_argument("--retrain-baseline", action="store_true", help="train the stock model even if current")
    parser.add_argument("--workers", type=int, default=3, help="conversations played at once")
    parser.add_argument(
        "--no-variations", action="store_true", help="skip the intent sets with ？/。/谢谢/你好/emoji added"
    )
    parser.add_argument(
        "--model", type=Path, help="score this model archive (e.g. models/seeds/…) instead of training ours"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the report goes (default {OUT})")
    parser.add_argument(
        "--spread",
        type=Path,
        nargs="+",
        metavar="MODEL",
        help="only score these models (e.g. models/seeds/*.tar.gz) on the intent sets and count where they differ",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.spread:
        sets = {name: read_examples(path) for name, path in INTENT_SETS.items()}
        found = spread(args.spread, sets)
        out.mkdir(parents=True, exist_ok=True)
        (out / "spread.json").write_text(json.dumps(found, ensure_ascii=False, indent=2), encoding="utf-8")
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    begun, begun_cpu = time.monotonic(), _cpu_seconds()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, dict] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        started, cpu = time.monotonic(), _cpu_seconds()
        value = step()
        timings[name] = {"wall": round(time.monotonic() - started), "cpu": round(_cpu_seconds() - cpu)}
        return value

    cases = load_cases()  # a malformed set stops here, before any training
    if args.model:
        models = {"ours": args.model}
    else:
        timed("train ours (only when stale)", train.train)
        models = {"ours": train.MODEL_PATH}
    if not args.no_baseline:
        models["stock"] = timed(
            "train the stock model (only when stale)",
            lambda: train_baseline(OUT / "baseline-model", force=args.retrain_baseline),
        )
    report: dict[str, Any] = {"intent_sets": {}, "realistic": {}, "realistic_cases": {}, "cross_validation": {}}
    examples = {name: read_examples(path) for name, path in INTENT_SETS.items()}
    for pipeline, model in models.items():
        report["intent_sets"][pipeline] = timed(f"intent sets, {pipeline}", partial(score_intent_sets, model, examples))
        if pipeline == "ours" and not args.no_variations:
            report["variations"] = timed("intent sets, variations", partial(score_variations, model, examples))
        if not args.no_realistic:
            results, started_in = timed(
                f"realistic set, {pipeline} ({len(cases)} conversations, stack included)",
                partial(run_realistic, model, cases, out / f"stack-{pipeline}", args.workers),
            )
            timings[f"realistic set, {pipeline}: stack start-up"] = {"wall": started_in, "cpu": None}
            report["realistic"][pipeline] = summarise(results)
            report["realistic_cases"][pipeline] = case_rows(results)
    if not args.no_cross_validation:
        report["cross_validation"]["ours"] = timed(
            f"cross-validation, ours ({args.folds} folds)",
            lambda: cross_validate(train.CONFIG, out / "cross-validation", args.folds),
        )
        if not args.no_baseline:
            folds = args.baseline_folds
            report["cross_validation"]["stock"] = timed(
                f"cross-validation, stock ({folds} folds)",
                lambda: cross_validate(BASELINE_CONFIG, out / "cross-validation-stock", folds),
            )
    timings["total"] = {"wall": round(time.monotonic() - begun), "cpu": round(_cpu_seconds() - begun_cpu)}
    report["timings"] = timings
    report["criteria"] = [{"criterion": c, "measured": v, "met": ok} for c, v, ok in criteria(report)]
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    text = render(report)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text.split("## Realistic set by")[0])
    print(f"full report: {(out / 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
