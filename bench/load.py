"""Load benchmark: realistic conversations through REST at 1, 10 and 50 concurrent visitors.

Usage: ``python -m bench.load [--seconds 30] [--levels 1,10,50] [--no-baseline]``
(``make bench`` runs it). Starts the whole stack (``python -m services.run``) on
free ports with fresh databases, replays the conversations below for a fixed
time per level, then does the same with a model trained on Rasa's stock
pipeline (data/eval/baseline_config.yml) on the same data, and writes
bench/report.md and bench/report.json: turns/s, latency p50/p95/p99, errors,
peak RSS of each process, start-up (model load) time and training time
(bench/report.py; the stack and what its services use: bench/stack.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from bench import curve, profile
from bench import report as report_files
from bench.stack import cpu_by_service, rasa_pid, rss_by_service, start_stack, warm_up
from bot.settings import PROJECT_ROOT

# the throw-away servers and the stack's start and stop are the tests' own (tests/support, bench/stack.py)
from tests.support.servers import postgres, redis_server
from tests.support.stack import Stack, stop, wait_ready
from tools import train

STOCK_CONFIG = PROJECT_ROOT / "data" / "eval" / "baseline_config.yml"  # what `rasa init` writes
# the profiles of issue #24: short conversations under load, and messages 201–280 of one long conversation
PROFILE_VISITORS = 10
PROFILE_SECONDS = 15.0
PROFILE_LONG_MESSAGES = 80

# what visitors ask, turn by turn: FAQ, follow-ups, the eligibility form, small talk, out of scope
CONVERSATIONS = [
    ["你好", "全网和地网有什么区别", "那地网要多少注册资本", "谢谢"],
    ["呼叫中心许可证要准备哪些材料", "审批要多久", "有效期几年"],
    ["帮我看看我们公司能不能办", "我们业务覆盖全国", "内资", "2000万", "没有", "有的"],
    ["外资公司能办吗", "95号码怎么申请", "年报什么时候报"],
    ["没有许可证做外呼会怎么样", "罚款多少", "个体户可以办吗"],
    ["今天天气怎么样", "你是机器人吗", "注册资本要多少", "好的再见"],
]


@dataclass
class Level:
    visitors: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    rss_peak: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1) if ordered else 0

        turns = len(self.latencies) + self.errors
        return {
            "visitors": self.visitors,
            "seconds": round(self.seconds, 1),
            "turns": turns,
            "turns_per_second": round(len(self.latencies) / self.seconds, 2) if self.seconds else 0,
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else 0,
            "errors": self.errors,
            "error_rate": round(self.errors / turns, 4) if turns else 0,
            "rss_peak_mb": {k: round(v) for k, v in sorted(self.rss_peak.items())},
            # CPU time per answered turn: the work a turn costs, which other load on the machine hardly changes
            "cpu_ms_per_turn": {
                k: round(1000 * v / len(self.latencies), 1)
                for k, v in sorted(self.cpu_seconds.items())
                if self.latencies
            },
        }


def run_level(instances: list[Stack], visitors: int, seconds: float, tag: str) -> Level:
    """Replay conversations with ``visitors`` concurrent visitors for ``seconds``.

    With several instances each visitor keeps to one of them, as behind a load balancer with sticky sessions.
    """
    level = Level(visitors, seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    done = threading.Event()

    def sample_memory() -> None:
        while not done.is_set():
            totals: dict[str, float] = {}
            for running in instances:
                for name, mb in rss_by_service(running).items():
                    totals[name] = totals.get(name, 0) + mb
            for name, mb in totals.items():
                level.rss_peak[name] = max(level.rss_peak.get(name, 0), mb)
            done.wait(1)

    def visitor(number: int) -> None:
        session = requests.Session()
        running = instances[number % len(instances)]
        conversation = number
        while time.monotonic() < stop_at:
            sender = f"bench-{tag}-{visitors}-{number}-{conversation}"
            for text in CONVERSATIONS[conversation % len(CONVERSATIONS)]:
                if time.monotonic() >= stop_at:
                    break
                started = time.perf_counter()
                try:
                    response = session.post(
                        f"{running.rasa_url}/webhooks/rest/webhook",
                        timeout=60,
                        json={"sender": sender, "message": text},
                    )
                    ok = response.status_code == 200 and bool(response.json())
                except (requests.RequestException, ValueError):
                    ok = False
                elapsed = time.perf_counter() - started
                with lock:
                    if ok:
                        level.latencies.append(elapsed)
                    else:
                        level.errors += 1
            conversation += visitors

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    cpu_before = [cpu_by_service(running) for running in instances]
    started = time.monotonic()
    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.seconds = time.monotonic() - started
    for running, before in zip(instances, cpu_before, strict=True):
        for name, seconds in cpu_by_service(running).items():
            level.cpu_seconds[name] = level.cpu_seconds.get(name, 0) + seconds - before.get(name, 0)
    done.set()
    sampler.join()
    return level


def profiled(running: Stack, work: Callable[[], object]) -> dict[str, Any]:
    """Each stage's share of Rasa's time handling messages while ``work`` runs, and the hottest functions
    (empty without py-spy)."""
    pid = rasa_pid(running)
    if pid is None or not profile.available():
        work()
        return {}
    with profile.Sampler(pid) as sampler:
        work()
    return {**profile.stages(sampler.counts), "hottest": profile.hottest(sampler.counts)}


def measure(
    model: Path, levels: list[int], seconds: float, tag: str, messages: int = curve.MESSAGES, **extra: str
) -> dict:
    """One instance with the embedded SQLite stores: the load levels, the conversation-length curve, profiles."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{tag}-") as work:
        running = start_stack(model, Path(work), **extra)
        try:
            startup = wait_ready(running)
            warm_up(running)
            result: dict = {
                "model": str(model),
                "instances": 1,
                "stores": "SQLite",
                "startup_seconds": round(startup, 1),
                "levels": [report_level(run_level([running], n, seconds, tag), tag) for n in levels],
            }
            if messages:
                sender = f"bench-{tag}-long"
                result["curve"] = curve.measure_curve(
                    running.rasa_url, sender, messages, lambda: cpu_by_service(running).get("rasa", 0.0)
                )
                print(f"{tag}: conversation-length curve {result['curve']}", flush=True)
                result["profile"] = {
                    "load": profiled(running, lambda: run_level([running], PROFILE_VISITORS, PROFILE_SECONDS, tag)),
                    "long": profiled(
                        running, curve.keep_talking(running.rasa_url, sender, messages, PROFILE_LONG_MESSAGES)
                    ),
                }
            return result
        finally:
            stop(running)


def measure_shared(model: Path, levels: list[int], seconds: float, instances: int, tag: str) -> dict:
    """``instances`` complete instances sharing PostgreSQL and Redis (the scale-out mode)."""
    import sqlalchemy

    with (
        postgres() as database_url,
        redis_server() as redis_url,
        tempfile.TemporaryDirectory(prefix=f"bench-{tag}-") as work,
    ):
        shared = {"DATABASE_URL": database_url, "TRACKER_STORE_URL": database_url, "REDIS_URL": redis_url}
        running: list[Stack] = []
        try:
            for number in range(instances):
                folder = Path(work) / str(number)
                folder.mkdir()
                running.append(start_stack(model, folder, **shared))
                if number == 0:  # the first instance creates the tables; the others must not race it
                    engine = sqlalchemy.create_engine(database_url)
                    while not {"events", "facts"} <= set(sqlalchemy.inspect(engine).get_table_names()):
                        if running[0].process.poll() is not None:
                            raise RuntimeError(running[0].log.read_text()[-3000:])
                        time.sleep(1)
                    engine.dispose()
            startups = []
            for instance in running:
                startups.append(wait_ready(instance))
                warm_up(instance)
            return {
                "model": str(model),
                "instances": instances,
                "stores": "PostgreSQL + Redis",
                "startup_seconds": round(max(startups), 1),
                "levels": [report_level(run_level(running, n, seconds, tag), tag) for n in levels],
            }
        finally:
            for instance in running:
                stop(instance)


def report_level(level: Level, tag: str) -> dict:
    summary = level.summary()
    print(
        f"{tag}: {summary['visitors']} visitors: {summary['turns_per_second']} turns/s, p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms, errors {summary['errors']}",
        flush=True,
    )
    return summary


def train_stock(out: Path) -> tuple[Path, float]:
    """Train a whole model (NLU and dialogue) with Rasa's stock pipeline on the project's data."""
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "--config",
            str(STOCK_CONFIG),
            "--domain",
            str(train.DOMAIN),
            "--data",
            *map(str, train.TRAINING_DATA),
            "--out",
            str(out),
            "--fixed-model-name",
            "stock",
            "--force",
        ],
        cwd=PROJECT_ROOT,
        check=True,
    )
    return out / "stock.tar.gz", time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 30)))
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--no-baseline", action="store_true", help="skip the stock-pipeline reference")
    parser.add_argument("--no-scale-out", action="store_true", help="skip 1 and 2 instances on PostgreSQL + Redis")
    parser.add_argument(
        "--messages", type=int, default=curve.MESSAGES, help="length of the conversation-length curve (0: skip it)"
    )
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n.strip()]
    if train.is_stale():
        print("error: the model is missing or stale; run make train", file=sys.stderr)
        return 1
    report = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        # other work on the machine skews every figure: the 1-minute load average at the start and at the end
        "load_average": [round(os.getloadavg()[0], 1)],
        "seconds": args.seconds,
        "training_seconds": {},
    }
    if train.TIMING_PATH.exists():
        report["training_seconds"]["ours"] = float(train.TIMING_PATH.read_text())
    report["ours"] = measure(train.MODEL_PATH, levels, args.seconds, "ours", args.messages)
    if not args.no_scale_out:
        report["shared_1"] = measure_shared(train.MODEL_PATH, levels, args.seconds, 1, "postgres-1")
        report["shared_2"] = measure_shared(train.MODEL_PATH, levels, args.seconds, 2, "postgres-2")
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="bench-stock-model-") as out:
            model, seconds = train_stock(Path(out))
            report["training_seconds"]["stock"] = round(seconds, 1)
            report["stock"] = measure(model, levels, args.seconds, "stock", args.messages)
    report["load_average"].append(round(os.getloadavg()[0], 1))
    print(report_files.write(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
