"""The database back to data/facts/*.yml in the files' layout (bot/facts_files/writer.py)."""

from __future__ import annotations

import shutil

import pytest

from bot import db
from bot.facts_files.loader import load_facts
from bot.facts_files.writer import export_facts
from bot.store import facts
from tests.support.databases import FACTS_DIR
from tests.support.facts_files import GOOD, edit, history, knowledge, write


@pytest.fixture
def project_facts(database_url):
    """A database holding data/facts as the loader loads it (a copy of the one loaded once per run)."""
    return database_url


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'facts.db'}"


def test_exporting_an_unchanged_database_reproduces_the_repository_files_byte_for_byte(tmp_path, project_facts):
    url = project_facts
    out = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, out)
    report = export_facts(url, out)
    assert report.facts == len(knowledge(url)) and not report.written and not report.dropped
    for original in FACTS_DIR.glob("*.yml"):
        assert (out / original.name).read_bytes() == original.read_bytes(), original.name


def test_facts_loaded_before_the_database_knew_their_file_go_back_where_the_files_have_them(tmp_path, project_facts):
    url = project_facts
    with db.session_scope(url) as session:  # as after revision 0004, before the next load
        for fact in facts.all_facts(session=session):
            fact.source_file = fact.source_position = None
    out = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, out)
    assert not export_facts(url, out).written
    for original in FACTS_DIR.glob("*.yml"):
        assert (out / original.name).read_bytes() == original.read_bytes(), original.name


def test_a_fresh_export_loads_back_into_identical_knowledge(tmp_path, project_facts):
    """Without the repository's files to copy from, every fact is written anew: loading it gives the same facts."""
    url = project_facts
    out = tmp_path / "fresh"
    export_facts(url, out)
    assert sorted(p.name for p in out.glob("*.yml")) == sorted(p.name for p in FACTS_DIR.glob("*.yml"))
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    load_facts([out], copy)
    assert knowledge(copy) == knowledge(url)


TRICKY = {
    # braces are doubled: a single pair names an authority of the approval rule ({local_authority})
    "answer": "注意: 这是 #1 的 '单引号' 和 \"双引号\"，还有 {{大括号}} 与 - 破折号；" + "长句子，" * 30 + "完。",
    "question": "* 星号开头？",
    "confidence_note": "yes",
    "sources": [{"document": "@文件: 甲", "article": "2017"}, {"document": "文件乙", "article": None}],
}


def test_console_edits_export_in_place_and_load_back_without_a_change(tmp_path, project_facts):
    url = project_facts
    edit(url, "licence.validity", reason="控制台修改", **TRICKY)
    edit(url, "annual.lists", reason="短答案", answer="两类名单都通过管理平台公示。")
    out = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, out)
    report = export_facts(url, out)
    assert sorted(report.written) == ["annual_report.yml", "licence.yml"] and not report.refolds
    for original in FACTS_DIR.glob("*.yml"):
        if original.name not in report.written:
            assert (out / original.name).read_bytes() == original.read_bytes()
    # only the edited fact's lines differ; its neighbours and the file's comment keep their text
    old, new = (
        (FACTS_DIR / "licence.yml").read_text(encoding="utf-8"),
        (out / "licence.yml").read_text(encoding="utf-8"),
    )
    assert new.startswith("# Facts about the two licence kinds")
    assert old.split("  - key: licence.validity")[0] == new.split("  - key: licence.validity")[0]
    assert old.split("  - key: licence.renewal")[1] == new.split("  - key: licence.renewal")[1]
    before = knowledge(url)
    report = load_facts([out], url)  # the files now say what the database has: nothing changes
    assert not report.changed and report.unchanged
    assert knowledge(url) == before
    assert [v for v, _, _ in history(url, "licence.validity")] == [1, 2]
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    load_facts([out], copy)
    assert {k: v[:3] for k, v in knowledge(copy).items()} == {k: v[:3] for k, v in before.items()}


def test_export_leaves_out_facts_the_database_does_not_have_and_says_so(tmp_path, url):
    (tmp_path / "src").mkdir()
    load_facts([write(tmp_path / "src", "a.yml", GOOD)], url)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.yml").write_text(
        GOOD.replace("key: unconfirmed.upgrade", "key: only.in.file").replace("topic: upgrade", "topic: elsewhere"),
        encoding="utf-8",
    )
    with db.session_scope(url) as session:
        facts.get_fact("unconfirmed.upgrade", session=session).source_file = "b.yml"
    report = export_facts(url, out)
    assert report.dropped == ["only.in.file"]
    assert "only.in.file" not in (out / "a.yml").read_text(encoding="utf-8")
    assert "unconfirmed.upgrade" in (out / "b.yml").read_text(encoding="utf-8")
