"""Issue #21's done-criteria and the Markdown report of the figures."""

from __future__ import annotations

from typing import Any, Optional

from tools.evaluate.cases import OUT_OF_SCOPE
from tools.evaluate.judge import CORRECT, CaseResult, _short

PIPELINES = {
    "ours": "ours (normaliser + jieba + domain dictionary + DIET)",
    "stock": "stock Rasa, JiebaTokenizer (data/eval/baseline_config.yml)",
}

# Issue #21 done-criteria. REFERENCE: intent accuracy of the held-out sets before the work (the
# model of commit aef04ec, measured by this module: eval_set 95.2 %, test_set 93.8 %): they must not fall
# below it. (Issue #13's were 90 % realistic and the sets of commit 908adbd.)
REFERENCE = {"eval_set": 0.952, "test_set": 0.938}
TARGETS = {
    "realistic_accuracy": 0.92,
    "realistic_wrong_confident": 0.02,
    "off_topic_recall": 0.95,
    "cross_validation": 0.85,
    "lead_over_stock": 0.15,
}
MIN_OFF_TOPIC = 20  # off-topic recall is a criterion on sets with at least this many off-topic messages


def criteria(report: dict) -> list[tuple[str, str, Optional[bool]]]:
    """Issue #21's done-criteria: (criterion, measured, met); met is None when not measured."""
    rows = []
    real = (report.get("realistic") or {}).get("ours")
    stock = (report.get("realistic") or {}).get("stock")
    if real:
        rows += [
            (
                f"realistic set accuracy ≥ {TARGETS['realistic_accuracy']:.0%}",
                f"{real['accuracy']:.1%}",
                real["accuracy"] >= TARGETS["realistic_accuracy"],
            ),
            (
                f"wrong confident answers ≤ {TARGETS['realistic_wrong_confident']:.0%} (realistic)",
                f"{real['wrong_confident_rate']:.1%} ({real['wrong_confident']})",
                real["wrong_confident_rate"] <= TARGETS["realistic_wrong_confident"],
            ),
            (
                "no in-scope message answered as off-topic (realistic)",
                str(real["in_scope_as_off_topic"]),
                real["in_scope_as_off_topic"] == 0,
            ),
        ]
    recalls = {
        name: m["out_of_scope_recall"]
        for name, m in (report.get("intent_sets") or {}).get("ours", {}).items()
        if (m["per_intent"].get(OUT_OF_SCOPE) or {}).get("support", 0) >= MIN_OFF_TOPIC
    }
    if real and real["off_topic_total"] >= MIN_OFF_TOPIC:
        recalls["realistic_set"] = real["off_topic_recall"]
    if recalls:
        rows.append(
            (
                f"off-topic recall ≥ {TARGETS['off_topic_recall']:.0%} (sets with ≥ {MIN_OFF_TOPIC} off-topic "
                "messages)",
                ", ".join(f"{k} {v:.1%}" for k, v in recalls.items()),
                min(recalls.values()) >= TARGETS["off_topic_recall"],
            )
        )
    for name, m in (report.get("intent_sets") or {}).get("ours", {}).items():
        reference = REFERENCE.get(name)
        if reference:
            rows.append(
                (
                    f"{name} accuracy no lower than before the work ({reference:.1%})",
                    f"{m['accuracy']:.1%}",
                    m["accuracy"] >= reference - 1e-9,
                )
            )
    variations = report.get("variations") or {}
    if variations:
        written = variations["as written"]
        gap = max(abs(acc[n] - written[n]) for acc in variations.values() for n in written)
        rows.append(
            (
                "every set scores the same within one point with 「？」, 「。」, 「，谢谢」, 「你好，」 or an emoji",
                f"widest gap {gap * 100:.1f} points",
                gap <= 0.01 + 1e-9,
            )
        )
    cv = (report.get("cross_validation") or {}).get("ours")
    if cv:
        rows.append(
            (
                f"{cv['folds']}-fold cross-validation ≥ {TARGETS['cross_validation']:.0%}",
                f"{cv['accuracy']:.1%}",
                cv["accuracy"] >= TARGETS["cross_validation"] and cv["folds"] >= 5,
            )
        )
    if real and stock:
        lead = real["accuracy"] - stock["accuracy"]
        rows.append(
            (
                f"ahead of stock Rasa (JiebaTokenizer) by ≥ {TARGETS['lead_over_stock']:.0%} points (realistic)",
                f"{lead * 100:+.1f} points",
                lead >= TARGETS["lead_over_stock"],
            )
        )
    return rows


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\n", " ").replace("|", "\\|")


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1%}"


def _criteria_lines(report: dict) -> list[str]:
    """The done-criteria table (when anything was measured)."""
    lines: list[str] = []
    done = criteria(report)
    if done:
        lines += ["## Issue #21 done-criteria", "", "| criterion | measured | met |", "|---|---|---|"]
        lines += [f"| {_cell(c)} | {_cell(v)} | {'yes' if ok else 'no'} |" for c, v, ok in done]
        lines.append("")
    return lines


def _set_lines(report: dict) -> list[str]:
    """Every set's figures, per pipeline."""
    lines: list[str] = []
    lines += [
        "## Every set",
        "",
        "Accuracy: intent sets by intent; the realistic set by what the visitor sees. Wrong confident: a fact "
        "answer (or verdict) that is not an acceptable one.",
        "",
        "| set | pipeline | n | accuracy | off-topic recall | in-scope as off-topic | wrong confident |",
        "|---|---|---|---|---|---|---|",
    ]
    for pipeline in PIPELINES:
        for name, m in (report.get("intent_sets") or {}).get(pipeline, {}).items():
            lines.append(
                f"| {name} | {pipeline} | {m['total']} | {_pct(m['accuracy'])} | "
                f"{_pct(m['out_of_scope_recall'])} | {m['in_scope_as_off_topic']} | {m['wrong_confident']} |"
            )
        real = (report.get("realistic") or {}).get(pipeline)
        if real:
            lines.append(
                f"| realistic_set | {pipeline} | {real['total']} | {_pct(real['accuracy'])} | "
                f"{_pct(real['off_topic_recall'])} | {real['in_scope_as_off_topic']} | "
                f"{real['wrong_confident']} ({_pct(real['wrong_confident_rate'])}) |"
            )
    lines += ["", "Pipelines: " + "; ".join(f"**{k}**: {v}" for k, v in PIPELINES.items()) + "."]
    return lines


def _variation_lines(report: dict) -> list[str]:
    """The intent sets' questions with what visitors add around them."""
    lines: list[str] = []
    variations = report.get("variations") or {}
    if variations:
        names = list(variations["as written"])
        lines += [
            "",
            "## What visitors add around a question (ours)",
            "",
            "Accuracy on each intent set's questions (its small talk, yes/no and off-topic messages left out) with "
            "the addition made to every one; the widest gap to the questions as written is the last row "
            "(issue #21: within one point).",
            "",
            "| added | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        lines += [f"| {v} | " + " | ".join(_pct(acc[n]) for n in names) + " |" for v, acc in variations.items()]
        gaps = [max(abs(acc[n] - variations["as written"][n]) for acc in variations.values()) for n in names]
        lines.append("| widest gap | " + " | ".join(f"{gap * 100:.1f} points" for gap in gaps) + " |")
    return lines


def _cross_validation_lines(report: dict) -> list[str]:
    """The cross-validation table."""
    lines: list[str] = []
    cv = report.get("cross_validation") or {}
    if cv:
        lines += [
            "",
            "## Cross-validation (data/nlu)",
            "",
            "| pipeline | folds | accuracy | weighted F1 | macro F1 |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p} | {m['folds']} | {_pct(m['accuracy'])} | {m['weighted_f1']:.3f} | {m['macro_f1']:.3f} |"
            for p, m in cv.items()
        ]
    return lines


def _realistic_lines(report: dict) -> list[str]:
    """The realistic set by cause and outcome, what the visitor got, and its misses."""
    lines: list[str] = []
    realistic = report.get("realistic") or {}
    if realistic:
        pipelines = list(realistic)
        for title, group in (("cause", "by_cause"), ("expected outcome", "by_expected")):
            lines += [
                "",
                f"## Realistic set by {title}",
                "",
                f"| {title} | n | "
                + " | ".join(f"{p} accuracy | {p} wrong confident | {p} in-scope as off-topic" for p in pipelines)
                + " |",
                "|---|---|" + "---|---|---|" * len(pipelines),
            ]
            for name, first in realistic[pipelines[0]][group].items():
                cells = []
                for p in pipelines:
                    m = realistic[p][group].get(name) or {}
                    cells += [
                        _pct(m.get("accuracy")),
                        str(m.get("wrong_confident", "–")),
                        str(m.get("in_scope_as_off_topic", "–")),
                    ]
                lines.append(f"| {name} | {first['total']} | " + " | ".join(cells) + " |")
        for p in pipelines:
            lines += [
                "",
                f"What the visitor got ({p}): "
                + ", ".join(f"{k} {v}" for k, v in realistic[p]["outcomes"].items())
                + ".",
            ]
        for p in pipelines:
            misses = [c for c in report.get("realistic_cases", {}).get(p, []) if c["category"] != CORRECT]
            lines += [
                "",
                f"## Realistic misses ({p}, {len(misses)})",
                "",
                "| case | cause | message | category | expected | got | why |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [
                "| "
                + " | ".join(
                    _cell(v)
                    for v in (
                        c["id"],
                        c["cause"],
                        _short(c["text"], 40),
                        c["category"],
                        c["expected"],
                        c["got"],
                        c["reason"],
                    )
                )
                + " |"
                for c in misses
            ]
    return lines


def _intent_miss_lines(report: dict) -> list[str]:
    """Our pipeline's misses on each intent set."""
    lines: list[str] = []
    for pipeline in PIPELINES:
        for name, m in (report.get("intent_sets") or {}).get(pipeline, {}).items():
            if pipeline == "ours" and m["misses"]:
                lines += ["", f"## Misses ({name}, ours)", ""]
                lines += [
                    f"- {x['text']} — expected {x['expected']}, got {x['predicted']}"
                    + (" (answered with its fact)" if x.get("confident") else "")
                    for x in m["misses"]
                ]
    return lines


def _timing_lines(report: dict) -> list[str]:
    """Wall-clock and CPU seconds of each step."""
    lines: list[str] = []
    timings = report.get("timings") or {}
    if timings:
        lines += [
            "",
            "## Timings",
            "",
            "Wall-clock and CPU seconds (CPU: this process and the children it waited "
            "for; the machine may be shared, so wall-clock can exceed CPU / cores).",
            "",
            "| step | wall s | CPU s |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {v['wall']} | {'–' if v['cpu'] is None else v['cpu']} |" for k, v in timings.items()]
    return lines


def render(report: dict) -> str:
    """The Markdown report: criteria, every set, variations, cross-validation, the realistic set, misses, timings."""
    lines = ["# Evaluation", ""]
    for section in (
        _criteria_lines,
        _set_lines,
        _variation_lines,
        _cross_validation_lines,
        _realistic_lines,
        _intent_miss_lines,
        _timing_lines,
    ):
        lines += section(report)
    return "\n".join(lines) + "\n"


def case_rows(results: list[CaseResult]) -> list[dict]:
    return [
        {
            "id": r.case.id,
            "cause": r.case.cause,
            "text": r.case.text,
            "expected": r.case.expected_text(),
            "category": r.judgement.category,
            "reason": r.judgement.reason,
            "got": r.outcome.summary(),
            "kind": r.outcome.kind,
            "fact_key": r.outcome.fact_key,
            "replies": r.outcome.texts,
            "responses": r.outcome.responses,
        }
        for r in results
    ]
