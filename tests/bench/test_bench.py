"""The load benchmark's figures and report (the load itself runs in `make bench`)."""

from __future__ import annotations

from bench.load import Level, render


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
