"""Benchmark: the console's conversation list on 100,000 generated conversations.

Usage: ``python -m bench.console_list [--conversations N]`` (``make bench``).
Generates a tracker store (Rasa's ``events`` table) with N conversations,
folds it into summaries (timed), then times list queries with the console's
filters. Writes bench/results/console-list.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from bot import db
from bot.store import conversations, summaries

QUESTIONS = [
    "全网和地网有什么区别",
    "注册资本要多少",
    "需要哪些材料",
    "年报什么时候截止",
    "外资能办吗",
    "今天天气怎么样",
    "95号码怎么申请",
    "办理流程是什么",
    "没证经营怎么罚",
    "有效期多久",
]
CHANNELS = ["socketio", "wechat", "rest"]
OUT = Path(__file__).resolve().parent / "results"


def generate(tracker_url: str, count: int, seed: int = 7) -> int:
    """Write ``count`` conversations of 2-4 turns into an events table; return the number of events."""
    rng = random.Random(seed)
    metadata = sa.MetaData()
    events = sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255), index=True),
        sa.Column("type_name", sa.String(255)),
        sa.Column("timestamp", sa.Float),
        sa.Column("intent_name", sa.String(255)),
        sa.Column("action_name", sa.String(255)),
        sa.Column("data", sa.Text),
    )
    engine = db.get_engine(tracker_url)
    metadata.create_all(engine)
    start = time.time() - 30 * 86400
    rows, total = [], 0
    with engine.begin() as connection:
        for n in range(count):
            sender = f"bench-{n:06d}"
            channel = rng.choice(CHANNELS)
            at = start + rng.random() * 30 * 86400
            for _ in range(rng.randint(2, 4)):
                text = rng.choice(QUESTIONS)
                confidence = rng.random() if rng.random() < 0.1 else 0.9 + rng.random() / 10
                intent = "nlu_fallback" if confidence < 0.3 else "ask_capital"
                rows.append(
                    {
                        "sender_id": sender,
                        "type_name": "user",
                        "timestamp": at,
                        "intent_name": intent,
                        "action_name": None,
                        "data": json.dumps(
                            {
                                "event": "user",
                                "text": text,
                                "input_channel": channel,
                                "parse_data": {"intent": {"name": intent, "confidence": confidence}},
                            },
                            ensure_ascii=False,
                        ),
                    }
                )
                rows.append(
                    {
                        "sender_id": sender,
                        "type_name": "bot",
                        "timestamp": at + 0.2,
                        "intent_name": None,
                        "action_name": None,
                        "data": json.dumps(
                            {
                                "event": "bot",
                                "text": "……",
                                "metadata": {"utter_action": "utter_clarify" if confidence < 0.3 else "utter_fact"},
                            }
                        ),
                    }
                )
                at += 30
            if len(rows) >= 20000:
                connection.execute(events.insert(), rows)
                total += len(rows)
                rows = []
        if rows:
            connection.execute(events.insert(), rows)
            total += len(rows)
    return total


def _first_page(url: str, filters: conversations.Filters) -> None:
    with db.session_scope(url) as session:
        conversations.search(filters, session=session, limit=50, offset=0)


def timed(fn, repeat: int = 7) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return {"p50_ms": round(statistics.median(samples) * 1000, 1), "max_ms": round(max(samples) * 1000, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    tracker_url, app_url = f"sqlite:///{work / 'tracker.db'}", f"sqlite:///{work / 'app.db'}"
    started = time.perf_counter()
    event_count = generate(tracker_url, args.conversations)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    summaries.refresh(tracker_url, app_url)
    folded = time.perf_counter() - started
    cases = {
        "newest page, no filter": conversations.Filters(),
        "channel = wechat": conversations.Filters(channel="wechat"),
        "fell back, not reviewed": conversations.Filters(fell_back=True, reviewed=False),
        "needs review": conversations.Filters(needs_review=True),
        "free text 外资": conversations.Filters(q="外资"),
        "date range + channel + low confidence": conversations.Filters(channel="socketio", low_confidence=True),
    }
    results = {name: timed(partial(_first_page, app_url, filters)) for name, filters in cases.items()}
    with db.session_scope(app_url) as session:
        results["dashboard (30 days)"] = timed(lambda: conversations.dashboard(session=session), repeat=3)
    report = {
        "conversations": args.conversations,
        "events": event_count,
        "generate_s": round(generated, 1),
        "refresh_s": round(folded, 1),
        "queries": results,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "console-list.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(
        f"{args.conversations} conversations, {event_count} events; generated in {generated:.1f} s, "
        f"folded into summaries in {folded:.1f} s"
    )
    print("| query | p50 | max |\n|---|---|---|")
    for name, figures in results.items():
        print(f"| {name} | {figures['p50_ms']} ms | {figures['max_ms']} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
