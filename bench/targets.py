"""Issue #24's figures in the load report: the conversation-length curve, the profiles, and the targets.

``BASELINE`` holds the figures of the code before #24 (what "today" meant in the
issue), so one ``make bench`` run can say whether each target is met.
"""

from __future__ import annotations

import operator
from typing import Any, Optional

# Before #24. Quiet machine: the issue's own figures (aef04ec, 2 cores, REST on `make run`): the throughput at
# 20 visitors is where one Rasa process saturates, so it is the bar at 10 and at 50 visitors too. Shared
# machine: main at d57f755 measured by bench.load on the same 2 cores while other engineers trained models
# (load average 3–5), 20 s per level; its turns/s are low because the machine was busy, not the code.
BASELINE: dict[str, Any] = {
    "quiet": {
        "source": "issue #24 (aef04ec, 2 cores, quiet)",
        "turns_per_second": {1: 8.6, 20: 21.6},
        "p50_ms": {1: 105.0, 20: 940.0},
        "curve": {"1–40": 64.0, "161–200": 187.0, "last_over_first": 2.9},
        "rasa_rss_mb": 1220,
    },
    "shared": {
        "source": "main d57f755, 2 cores shared (load average 4–6), 20 s per level",
        "turns_per_second": {1: 7.19, 10: 11.27, 50: 6.31},
        "p50_ms": {1: 131.9, 10: 776.8, 50: 6139.7},
        "p95_ms": {1: 204.3, 10: 1536.2, 50: 21098.5},
        # CPU time of the Rasa process per turn: what other load on the machine hardly changes
        "rasa_cpu_ms": {1: 56.1, 10: 52.8, 50: 56.3},
        "curve": {"1–40": 181.3, "161–200": 880.5, "last_over_first": 4.86, "cpu_last_over_first": 4.67},
    },
}
SATURATED = BASELINE["quiet"]["turns_per_second"][20]  # "today's turns/s" of the issue
TARGETS = {
    "one_visitor_p50_ms": 40.0,
    "throughput_factor": 2.0,
    "p95_at_10_ms": 300.0,
    "curve_ratio": 1.3,
    "rasa_rss_mb": 1.2 * 1024,
}


def _level(result: Optional[dict], visitors: int) -> Optional[dict]:
    for level in (result or {}).get("levels", []):
        if level["visitors"] == visitors:
            return level
    return None


def checks(report: dict) -> list[tuple[str, str, str, Optional[bool]]]:
    """(target, bar, figure, met) for each target of issue #24 that this run measured."""
    ours = report.get("ours") or {}
    level = {n: _level(ours, n) or {} for n in (1, 10, 50)}
    ratio = (ours.get("curve") or {}).get("last_over_first")
    peaks = [each["rss_peak_mb"].get("rasa") for each in ours.get("levels", []) if each["rss_peak_mb"].get("rasa")]
    rate, rate_shown = TARGETS["throughput_factor"] * SATURATED, f"{{:.1f}} (2 × {SATURATED})"
    at_most, at_least, ms = ("≤", operator.le), ("≥", operator.ge), "{:.0f} ms"
    # target, this run's figure (None: not measured), its unit, how it must compare with the bar, the bar, as shown
    table = [
        ("one visitor, p50 per turn", level[1].get("p50_ms"), " ms", at_most, TARGETS["one_visitor_p50_ms"], ms),
        ("10 visitors, turns/s", level[10].get("turns_per_second"), "", at_least, rate, rate_shown),
        ("50 visitors, turns/s", level[50].get("turns_per_second"), "", at_least, rate, rate_shown),
        ("10 visitors, p95", level[10].get("p95_ms"), " ms", at_most, TARGETS["p95_at_10_ms"], ms),
        ("median turn, messages 161–200 ÷ 1–40", ratio, "", at_most, TARGETS["curve_ratio"], "{}"),
        ("Rasa resident memory (peak)", max(peaks, default=None), " MB", at_most, TARGETS["rasa_rss_mb"], "{:.0f} MB"),
    ]
    rows: list[tuple[str, str, str, Optional[bool]]] = [
        (target, f"{sign} {shown.format(bar)}", f"{figure}{unit}", compare(figure, bar))
        for target, figure, unit, (sign, compare), bar, shown in table
        if figure is not None
    ]
    return [*rows, ("evaluation figures", "unchanged", "see `make eval`", None)]


def render(report: dict) -> list[str]:
    """The Markdown sections for the targets, the curve and the profiles."""
    lines = ["", "## Issue #24's targets", "", "| target | bar | this run | met |", "|---|---|---:|---|"]
    for target, bar, figure, met in checks(report):
        lines.append(f"| {target} | {bar} | {figure} | {'–' if met is None else 'yes' if met else '**no**'} |")
    quiet, shared = BASELINE["quiet"], BASELINE["shared"]
    lines += [
        "",
        f"Before #24 — {quiet['source']}: 1 visitor {quiet['turns_per_second'][1]} turns/s "
        f"(p50 {quiet['p50_ms'][1]:.0f} ms), 20 visitors {quiet['turns_per_second'][20]} turns/s, curve "
        f"×{quiet['curve']['last_over_first']}, Rasa {quiet['rasa_rss_mb']} MB. {shared['source']}: "
        + ", ".join(f"{n} visitors {rate} turns/s" for n, rate in shared["turns_per_second"].items())
        + ", Rasa CPU per turn "
        + " / ".join(f"{ms}" for ms in shared["rasa_cpu_ms"].values())
        + f" ms, curve ×{shared['curve']['last_over_first']} (Rasa CPU ×{shared['curve']['cpu_last_over_first']}).",
    ]
    curves = [
        (name, report[key]["curve"])
        for key, name in (("ours", "project"), ("stock", "stock"))
        if report.get(key, {}).get("curve")
    ]
    if curves:
        lines += [
            "",
            "## Conversation-length curve",
            "",
            "One visitor, one conversation of "
            f"{curves[0][1]['messages']} messages (bench/curve.py): the median turn per block of 40 messages.",
            "",
            "| messages | " + " | ".join(f"{name} ms" for name, _ in curves) + " |",
            "|---|" + "---:|" * len(curves),
        ]
        cpu = [name for name, c in curves if "rasa_cpu_ms" in c["blocks"][0]]
        lines[-2] += "".join(f" {name}: Rasa CPU ms per turn |" for name in cpu)
        lines[-1] += "---:|" * len(cpu)
        for index, block in enumerate(curves[0][1]["blocks"]):
            lines.append(
                f"| {block['messages']} | "
                + " | ".join(str(c["blocks"][index]["median_ms"]) for _, c in curves)
                + "".join(f" | {c['blocks'][index]['rasa_cpu_ms']}" for name, c in curves if name in cpu)
                + " |"
            )
        lines.append(
            "| **last ÷ first** | "
            + " | ".join(f"**{c['last_over_first']}**" for _, c in curves)
            + "".join(f" | **{c.get('cpu_last_over_first', '–')}**" for name, c in curves if name in cpu)
            + " |"
        )
        errors = {name: c.get("errors", 0) for name, c in curves if c.get("errors")}
        if errors:
            lines += ["", "Turns without a reply: " + ", ".join(f"{n}: {e}" for n, e in errors.items())]
    profiles = [
        (name, report[key]["profile"])
        for key, name in (("ours", "project"), ("stock", "stock"))
        if report.get(key, {}).get("profile")
    ]
    if profiles:
        columns = [
            (f"{name}, {label}", profile[part])
            for name, profile in profiles
            for part, label in (("load", "10 visitors, short conversations"), ("long", "messages 201–280 of one"))
            if profile.get(part)
        ]
        lines += [
            "",
            "## Where a turn's time goes",
            "",
            "py-spy samples of the Rasa process (bench/profile.py), each stage's share of the samples spent "
            "handling a message; a stage can sit inside another, so shares overlap.",
            "",
            "| stage | " + " | ".join(name for name, _ in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        stages = [key for key in columns[0][1] if key not in ("turn samples", "hottest")]
        for stage in stages:
            lines.append(f"| {stage} | " + " | ".join(f"{shares.get(stage, 0)} %" for _, shares in columns) + " |")
        lines.append(
            "| samples | " + " | ".join(f"{shares.get('turn samples', 0):.0f}" for _, shares in columns) + " |"
        )
        for name, shares in columns:
            if shares.get("hottest"):
                lines += ["", f"Hottest functions ({name}): " + ", ".join(f"`{f}` {s} %" for f, s in shares["hottest"])]
    return lines
