"""The load benchmark's figures and report (the load itself runs in `make bench`)."""

from __future__ import annotations

from bench.load import Level
from bench.report import render


def test_level_summary_percentiles_rate_and_errors():
    level = Level(
        visitors=10,
        seconds=10.0,
        latencies=[i / 1000 for i in range(1, 101)],
        errors=5,
        rss_peak={"rasa": 1000.4, "actions": 55.6},
    )
    summary = level.summary()
    assert summary["turns"] == 105 and summary["turns_per_second"] == 10.0
    assert (summary["p50_ms"], summary["p95_ms"], summary["p99_ms"]) == (51.0, 96.0, 100.0)
    assert summary["error_rate"] == round(5 / 105, 4)
    assert summary["rss_peak_mb"] == {"actions": 56, "rasa": 1000}


def test_report_shows_both_pipelines_and_their_ratios():
    def result(rate, p50):
        return {
            "startup_seconds": 44.0,
            "levels": [
                {
                    "visitors": 1,
                    "turns_per_second": rate,
                    "p50_ms": p50,
                    "p95_ms": p50 * 2,
                    "p99_ms": p50 * 3,
                    "errors": 0,
                    "rss_peak_mb": {"rasa": 1000},
                }
            ],
        }

    text = render(
        {
            "date": "2026-11-29",
            "machine": "2 cores",
            "seconds": 30,
            "training_seconds": {"ours": 190.0},
            "ours": result(15.0, 60.0),
            "stock": result(10.0, 80.0),
        }
    )
    assert "| project (jieba, normaliser, lexicon) | 1 | 15.0 | 60.0 |" in text
    assert "| stock Rasa pipeline | 1 | 10.0 | 80.0 |" in text
    assert "| 1 | 1.50 | 0.75 | 0.75 | 0.75 |" in text  # project ÷ stock
    assert "| training time (s) | 190.0 | – |" in text


def test_curve_blocks_give_the_median_per_forty_messages_and_count_missing_replies():
    from bench.curve import blocks

    latencies = [0.010] * 40 + [0.020] * 39 + [None]
    assert blocks(latencies) == [
        {"messages": "1–40", "median_ms": 10.0, "errors": 0},
        {"messages": "41–80", "median_ms": 20.0, "errors": 1},
    ]


def test_profile_stages_are_shares_of_the_samples_handling_a_message():
    from bench import profile

    raw = "\n".join(
        [
            "main (x.py:1);handle_message (rasa/core/processor.py:157);retrieve (/w/bot/plugins/tracker_store.py:9) 30",
            "main (x.py:1);handle_message (rasa/core/processor.py:157);predict (rasa/core/policies/ted_policy.py:5) 70",
            "main (x.py:1);select (selectors.py:1) 400",
        ]
    )
    counts = profile.collapsed(raw)
    shares = profile.stages(counts)
    assert shares["tracker store: read the conversation, rebuild the tracker"] == 30.0
    assert shares["TEDPolicy (TensorFlow)"] == 70.0
    assert shares["turn samples"] == 100
    assert profile.hottest(counts)[0] == ("predict (rasa/core/policies/ted_policy.py)", 70.0)


def test_report_says_which_targets_of_issue_24_are_met():
    level = {"p50_ms": 30.0, "p95_ms": 250.0, "p99_ms": 300.0, "errors": 0, "rss_peak_mb": {"rasa": 1100}}
    report = {
        "date": "2026-12-07",
        "machine": "2 cores",
        "seconds": 30,
        "ours": {
            "startup_seconds": 40.0,
            "levels": [
                {**level, "visitors": 1, "turns_per_second": 30.0},
                {**level, "visitors": 10, "turns_per_second": 50.0},
                {**level, "visitors": 50, "turns_per_second": 40.0},
            ],
            "curve": {"messages": 200, "blocks": [{"messages": "1–40", "median_ms": 30.0}], "last_over_first": 1.1},
        },
    }
    text = render(report)
    assert "| one visitor, p50 per turn | ≤ 40 ms | 30.0 ms | yes |" in text
    assert "| 10 visitors, turns/s | ≥ 43.2 (2 × 21.6) | 50.0 | yes |" in text
    assert "| 50 visitors, turns/s | ≥ 43.2 (2 × 21.6) | 40.0 | **no** |" in text
    assert "| median turn, messages 161–200 ÷ 1–40 | ≤ 1.3 | 1.1 | yes |" in text
