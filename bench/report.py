"""The load benchmark's report: bench/report.md, bench/report.json and the section of docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path

from bench import targets
from bench.stack import SERVICES
from bot.settings import PROJECT_ROOT

REPORT_MD = PROJECT_ROOT / "bench" / "report.md"
REPORT_JSON = PROJECT_ROOT / "bench" / "report.json"
DOCS = PROJECT_ROOT / "docs" / "benchmarks.md"
# docs/benchmarks.md shows the last run's report between these lines; the rest of the page is written by hand
DOCS_START = "<!-- bench.load: from here to the end marker, written by make bench -->"
DOCS_END = "<!-- bench.load: end -->"


def write(report: dict) -> str:
    """Write the report's JSON and Markdown files and the docs' section; return the Markdown."""
    text = render(report)
    REPORT_JSON.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    REPORT_MD.write_text(text)
    write_docs(text)
    return text


def render(report: dict) -> str:
    ours, stock = report["ours"], report.get("stock")
    lines = [
        "# Load benchmark",
        "",
        f"{report['date']} · {report['machine']} · load average "
        + " → ".join(str(n) for n in report.get("load_average", []))
        + f" · {report['seconds']} s per level · "
        "conversations replayed through the REST channel (bench/load.py)",
        "",
        "| pipeline | visitors | turns/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in (("project (jieba, normaliser, lexicon)", ours), ("stock Rasa pipeline", stock)):
        if result:
            for level in result["levels"]:
                lines.append(
                    f"| {name} | {level['visitors']} | {level['turns_per_second']} | {level['p50_ms']} "
                    f"| {level['p95_ms']} | {level['p99_ms']} | {level['errors']} |"
                )
    lines += [
        "",
        "CPU time per turn (ms; the work a turn costs, which other load on the machine hardly changes):",
        "",
        "| pipeline | visitors | rasa | actions | web |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in (("project", ours), ("stock", stock)):
        for level in (result or {}).get("levels", []):
            cpu = level.get("cpu_ms_per_turn", {})
            lines.append(
                f"| {name} | {level['visitors']} | "
                + " | ".join(str(cpu.get(service, "–")) for service in ("rasa", "actions", "web"))
                + " |"
            )
    if stock and stock["levels"]:
        lines += [
            "",
            "Ratios, project ÷ stock (turns/s higher is better; latency lower is better):",
            "",
            "| visitors | turns/s | p50 | p95 | p99 |",
            "|---:|---:|---:|---:|---:|",
        ]
        for a, b in zip(ours["levels"], stock["levels"], strict=True):  # both measured at the same levels
            ratio = {
                key: f"{a[key] / b[key]:.2f}" if b[key] else "–"
                for key in ("turns_per_second", "p50_ms", "p95_ms", "p99_ms")
            }
            lines.append(
                f"| {a['visitors']} | {ratio['turns_per_second']} | {ratio['p50_ms']} | {ratio['p95_ms']} "
                f"| {ratio['p99_ms']} |"
            )
    scaled = [r for r in (report.get("shared_1"), report.get("shared_2")) if r]
    if scaled:
        lines += [
            "",
            "Scale-out mode (project pipeline; each visitor sticks to one instance):",
            "",
            "| instances, stores | visitors | turns/s | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for result in scaled:
            for level in result["levels"]:
                lines.append(
                    f"| {result['instances']}, {result['stores']} | {level['visitors']} "
                    f"| {level['turns_per_second']} | {level['p50_ms']} | {level['p95_ms']} "
                    f"| {level['p99_ms']} | {level['errors']} |"
                )
    lines += [
        "",
        "Peak resident memory (MB) at the highest level:",
        "",
        "| pipeline | " + " | ".join(SERVICES) + " |",
        "|---|" + "---:|" * len(SERVICES),
    ]
    for name, result in (("project", ours), ("stock", stock), ("project, 2 instances (sum)", report.get("shared_2"))):
        if result and result["levels"]:
            peak = result["levels"][-1]["rss_peak_mb"]
            lines.append(f"| {name} | " + " | ".join(str(peak.get(s, "–")) for s in SERVICES) + " |")
    lines += [
        "",
        "| | project | stock |",
        "|---|---:|---:|",
        f"| start-up until every service answers (s) | {ours['startup_seconds']} | "
        f"{stock['startup_seconds'] if stock else '–'} |",
        f"| training time (s) | {report.get('training_seconds', {}).get('ours', '–')} | "
        f"{report.get('training_seconds', {}).get('stock', '–')} |",
    ]
    lines += targets.render(report)
    return "\n".join(lines) + "\n"


def write_docs(report_md: str, docs: Path = DOCS) -> None:
    """Put ``report_md`` (headings one level down) between the markers of ``docs``, or at its end."""
    body = "\n".join(("##" + line) if line.startswith("#") else line for line in report_md.strip().splitlines())
    section = f"{DOCS_START}\n{body}\n{DOCS_END}"
    text = docs.read_text(encoding="utf-8")
    if DOCS_START in text and DOCS_END in text:
        before, rest = text.split(DOCS_START, 1)
        text = before + section + rest.split(DOCS_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    docs.write_text(text, encoding="utf-8")
