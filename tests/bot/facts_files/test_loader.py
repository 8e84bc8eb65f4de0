"""The facts loader (bot/facts_files/loader.py): validation, idempotent upserts and reports."""

from __future__ import annotations

import re

import pytest
import yaml

from actions.decide import HONEST_REPLIES
from bot import db
from bot.facts_files.loader import FactsFileError, load_facts, read_facts
from bot.facts_files.writer import export_facts
from bot.settings import PROJECT_ROOT
from bot.store import facts
from bot.store.facts import fold_whitespace, get_fact
from tests.support.facts_files import GOOD, write


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'facts.db'}"


def test_good_file_is_loaded_with_sources_and_corrections(tmp_path, url):
    report = load_facts([write(tmp_path, "a.yml", GOOD)], url)
    assert report.added == ["licence.validity", "unconfirmed.upgrade"]
    with db.session_scope(url) as session:
        fact = facts.fact_for_intent("ask_validity", session=session)
        assert fact.answer == "有效期为5年。"
        assert fact.source_text == "电信业务经营许可管理办法第13条"
        assert fact.confidence == "H"
        assert str(fact.effective_date) == "2017-09-01"
        assert [(c.claim, c.current, c.since) for c in fact.corrections] == [("长期有效", "有效期5年。", "2017")]
        assert facts.get_fact("unconfirmed.upgrade", session=session).unconfirmed


def test_rerun_is_a_noop(tmp_path, url):
    path = write(tmp_path, "a.yml", GOOD)
    load_facts([path], url)
    with db.session_scope(url) as session:
        before = facts.get_fact("licence.validity", session=session).updated_at
    report = load_facts([path], url)
    assert not report.changed
    assert report.unchanged == ["licence.validity", "unconfirmed.upgrade"]
    with db.session_scope(url) as session:
        assert facts.get_fact("licence.validity", session=session).updated_at == before


def test_changed_row_updates_only_that_fact(tmp_path, url):
    path = write(tmp_path, "a.yml", GOOD)
    load_facts([path], url)
    path.write_text(
        GOOD.replace("有效期为5年。", "有效期为五年。").replace('since: "2017"', 'since: "2018"'), encoding="utf-8"
    )
    report = load_facts([path], url)
    assert report.updated == ["licence.validity"]
    assert report.unchanged == ["unconfirmed.upgrade"]
    with db.session_scope(url) as session:
        fact = facts.get_fact("licence.validity", session=session)
        assert fact.answer == "有效期为五年。"
        assert [c.since for c in fact.corrections] == ["2018"]


def test_database_edit_survives_reload_of_unchanged_file(tmp_path, url):
    path = write(tmp_path, "a.yml", GOOD)
    load_facts([path], url)
    with db.session_scope(url) as session:
        facts.get_fact("licence.validity", session=session).answer = "staff edit"
    load_facts([path], url)
    with db.session_scope(url) as session:
        assert facts.get_fact("licence.validity", session=session).answer == "staff edit"


@pytest.mark.parametrize(
    "broken, line, message",
    [
        (GOOD.replace("    confidence: H\n", "    confidence: X\n"), 2, "confidence must be one of"),
        (GOOD.replace("    answer: 尚无定论。\n", ""), 17, "missing field(s): answer"),
        (GOOD.replace("    verified: 2026-11-29\n", "    verified: yesterday\n", 1), 2, "verified must be a date"),
        (GOOD.replace("    question: 有效期多久？\n", "    qestion: 有效期多久？\n"), 2, "unknown field(s): qestion"),
        (GOOD.replace("      - document: 公开资料\n", "      - article: 第1条\n"), 21, "each source needs a document"),
        (GOOD.replace("key: unconfirmed.upgrade", "key: licence.validity"), 17, "duplicate key"),
        (
            GOOD.replace("    topic: upgrade\n", "    topic: upgrade\n    intent: ask_validity\n"),
            17,
            "already answered",
        ),
        ("facts:\n  - key: [unclosed\n", 3, "not valid YAML"),
        ("nothing: here\n", 1, "top-level 'facts:' list"),
    ],
)
def test_malformed_file_is_refused_with_file_and_line(tmp_path, url, broken, line, message):
    path = write(tmp_path, "bad.yml", broken)
    with pytest.raises(FactsFileError) as error:
        load_facts([path], url)
    assert f"bad.yml:{line}:" in str(error.value)
    assert message in str(error.value)


def test_malformed_file_loads_nothing(tmp_path, url):
    good = write(tmp_path, "a.yml", GOOD)
    bad = write(tmp_path, "b.yml", "facts:\n  - key: x\n")
    with pytest.raises(FactsFileError):
        load_facts([good, bad], url)
    load_facts([good], url)  # the database was not half-written before
    with db.session_scope(url) as session:
        assert len(facts.all_facts(session=session)) == 2


def test_project_facts_cover_every_answer_intent_and_reference_section():
    rows = read_facts([facts_loader_dir()])
    intents = {r["intent"] for r in rows if r["intent"]}
    domain = yaml.safe_load((facts_loader_dir().parent.parent / "bot" / "domain.yml").read_text(encoding="utf-8"))
    # the honest replies (another licence, an in-scope question no fact answers) are not facts
    asked = {i for i in domain["intents"] if i.startswith("ask_")} - {"ask_followup"} - set(HONEST_REPLIES)
    assert asked == intents, "every ask_* intent needs exactly one fact"
    assert all(r["intent"] for r in rows), "every fact is reached by a question of its own"
    assert {r["confidence"] for r in rows} == {"H", "M", "L", "U"}
    assert sum(len(r["corrections"]) for r in rows) >= 11  # section C of the reference


def facts_loader_dir():
    return PROJECT_ROOT / "data" / "facts"


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("外资企业要求相同。\n2017年起不再要求验资报告", "外资企业要求相同。2017年起不再要求验资报告"),
        ("申请和年报通过 \n “电信业务市场综合管理信息系统”", "申请和年报通过“电信业务市场综合管理信息系统”"),
        ("B24 and\n  ICP", "B24 and ICP"),
    ],
)
def test_folded_yaml_lines_join_without_spaces_between_chinese(raw, folded):
    from bot.store.facts import fold_whitespace

    assert fold_whitespace(raw) == folded


# ------------------------------------------------------------------ issue #15: the knowledge audit's findings

BARE_YES_NO = {
    "能",
    "不能",
    "可以",
    "不可以",
    "要",
    "不要",
    "需要",
    "不需要",
    "是",
    "不是",
    "会",
    "不会",
    "有",
    "没有",
    "行",
    "不行",
    "对",
    "不对",
}


def project_answers():
    for row in read_facts([facts_loader_dir()]):
        yield row["key"], row["answer"]
        for variant in row["variants"]:
            yield f"{row['key']} {variant['when']}", variant["answer"]


def test_no_answer_opens_with_a_bare_yes_or_no():
    """Audit §0.2: a fact reached by a question that is not yes/no must not open with 「要。」 against its body."""
    opening = {key: re.split(r"[。；：，！？\n]", answer, maxsplit=1)[0].strip() for key, answer in project_answers()}
    assert {key: first for key, first in opening.items() if first in BARE_YES_NO} == {}


def test_enumerations_keep_one_item_per_line():
    """Audit §0.6: ①…⑩ lists are not run into one paragraph."""
    folded = fold_whitespace("条件：①依法设立的公司；\n  ②有资金；③注册资本")
    assert folded.split("\n") == ["条件：", "①依法设立的公司；", "②有资金；", "③注册资本"]
    assert fold_whitespace(folded) == folded  # folding again changes nothing (the loader's idempotence)
    rows = {r["key"]: r for r in read_facts([facts_loader_dir()])}
    for key in ("conditions.all", "conditions.materials", "process.steps"):
        lines = rows[key]["answer"].split("\n")
        items = lines[1:] if lines[0].endswith("：") else lines  # a lead-in (「全网向…提交：」) may come first
        assert len(items) >= 4 and all(line[0] in "①②③④⑤⑥⑦⑧⑨⑩" for line in items), key


def test_a_correction_says_whether_it_was_a_rule_or_never_was(tmp_path):
    url = f"sqlite:///{tmp_path / 'facts.db'}"
    path = write(
        tmp_path,
        "kinds.yml",
        """
facts:
  - key: x.staff
    topic: staff
    answer: 规章没有规定员工人数。
    sources: [{document: 令42, article: 第6条}]
    confidence: H
    verified: 2026-11-29
    corrections:
      - claim: 至少3名员工交社保
        current: 这不是规章规定的条件。
        kind: misconception
      - claim: 要参加年检
        current: 2017年起改为年报。
        since: "2017"
""",
    )
    load_facts([path], url)
    with db.session_scope(url) as session:
        kinds = [(c.claim, c.kind, c.since) for c in get_fact("x.staff", session=session).corrections]
    assert kinds == [("至少3名员工交社保", "misconception", None), ("要参加年检", "outdated", "2017")]
    out = tmp_path / "out"
    out.mkdir()
    export_facts(url, out)
    assert "kind: misconception" in (out / "kinds.yml").read_text(encoding="utf-8")
    assert read_facts([out]) == read_facts([path])


def test_an_unknown_correction_kind_is_refused_with_its_line(tmp_path):
    path = write(
        tmp_path,
        "bad.yml",
        """
facts:
  - key: x.bad
    topic: t
    answer: a
    sources: [{document: d}]
    confidence: H
    verified: 2026-11-29
    corrections:
      - claim: c
        current: d
        kind: wrong
""",
    )
    with pytest.raises(FactsFileError, match=r"bad.yml:10: kind must be one of outdated/misconception"):
        read_facts([path])


def test_claims_that_never_were_rules_are_not_called_outdated():
    """Audit §0.4: C#5 staff, C#7 292号令, C#8 expert review, C#9 95/96, C#10 基础电信 application."""
    kinds = {(r["key"], c["claim"][:6]): c["kind"] for r in read_facts([facts_loader_dir()]) for c in r["corrections"]}
    never = {key for key, kind in kinds.items() if kind == "misconception"}
    assert {k for k, _ in never} == {
        "conditions.all",  # 可行性研究报告 was a basic-telecom item (audit 3 row 9)
        "foreign.investment",  # foreign JVs up to 50 % held licences before 2019 (audit 3 row 9)
        "b24.outbound",  # B24 never covered marketing calls; the 2020 notice said so (audit 3 row 9)
        "conditions.staff",
        "penalty.unlicensed",
        "process.steps",
        "numbers.95_96",
        "b24.definition",
        "conditions.materials",
    }
    assert kinds[("annual.report", "许可证每年要")] == "outdated"


def test_sources_shown_to_visitors_name_a_document_not_a_placeholder():
    """Audit §2c/§4: 「（转述）」, 「公开资料（未确认）」, a bare date as the article, 「省通信管理局通知」."""
    shown = [
        (r["key"], s["document"] + (s["article"] or "")) for r in read_facts([facts_loader_dir()]) for s in r["sources"]
    ]
    bad = [
        (key, text)
        for key, text in shown
        if re.search(r"转述|未确认|公开资料|^省通信管理局通知|^工信部办事指南$|2020年6月$", text)
    ]
    assert bad == []


def test_legal_statements_live_in_the_facts_not_in_the_domain():
    """Audit §2b.13: what the law says follows a staff edit of the facts; the domain only frames it."""
    domain = yaml.safe_load((facts_loader_dir().parent.parent / "bot" / "domain.yml").read_text(encoding="utf-8"))
    texts = [v["text"] for variants in domain["responses"].values() for v in variants]
    legal = ["认缴", "缴足", "实地核查", "须是依法设立", "不得被列入"]  # the audit's domain.yml:257…339
    assert [(phrase, text) for text in texts for phrase in legal if phrase in text] == []
    rows = {r["key"]: r for r in read_facts([facts_loader_dir()])}
    assert "认缴" in rows["conditions.capital"]["data"]["paid_in"]
    assert set(rows["conditions.all"]["data"]["gaps"]) == {"company", "blacklist", "premises"}
