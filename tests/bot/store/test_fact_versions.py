"""Versioned knowledge (#15): versions from the files and the console, restore, bounded fields (bot/store/facts.py)."""

from __future__ import annotations

import pytest

from bot import db
from bot.facts_files.loader import load_facts
from bot.store import facts
from tests.support.console import csrf, login
from tests.support.facts_files import GOOD, edit, history, write


@pytest.fixture
def app(console_app):
    return console_app


@pytest.fixture
def project_facts(database_url):
    """A database holding data/facts as the loader loads it (a copy of the one loaded once per run)."""
    return database_url


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'facts.db'}"


def test_the_loader_makes_a_version_only_when_a_fact_s_content_changes(tmp_path, url):
    path = write(tmp_path, "a.yml", GOOD)
    load_facts([path], url)
    origin = str(path)
    assert history(url, "licence.validity") == [(1, f"file:{origin}", f"loaded from {origin}")]
    load_facts([path], url)
    # a comment and a different line break are not a change of knowledge
    path.write_text(
        "# validity facts\n"
        + GOOD.replace("    answer: 有效期为5年。\n", "    answer: >-\n      有效期为\n      5年。\n"),
        encoding="utf-8",
    )
    assert not load_facts([path], url).changed
    assert len(history(url, "licence.validity")) == 1
    path.write_text(GOOD.replace("有效期为5年。", "有效期为五年。"), encoding="utf-8")
    report = load_facts([path], url)
    assert report.updated == ["licence.validity"]
    assert [v for v, _, _ in history(url, "licence.validity")] == [1, 2]
    assert [v for v, _, _ in history(url, "unconfirmed.upgrade")] == [1]
    with db.session_scope(url) as session:
        fact = facts.get_fact("licence.validity", session=session)
        assert (
            fact.version == 2 and facts.latest_version(fact.key, session=session).content["answer"] == "有效期为五年。"
        )
        assert (fact.source_file, fact.source_position) == ("a.yml", 0)


def test_a_console_edit_is_a_version_with_author_and_reason_and_survives_an_unchanged_file(tmp_path, url):
    path = write(tmp_path, "a.yml", GOOD)
    load_facts([path], url)
    assert (
        edit(
            url,
            "licence.validity",
            editor="王工",
            reason="按令42第13条复核",
            answer="有效期为\n5年（复核）。",
            question="  有效期\t多久？ ",
        )
        == 2
    )
    with db.session_scope(url) as session:
        fact = facts.get_fact("licence.validity", session=session)
        # folded like the files' text: an export loads back the same
        assert (fact.answer, fact.question, fact.version) == ("有效期为5年（复核）。", "有效期多久？", 2)
    assert history(url, "licence.validity")[-1] == (2, "王工", "按令42第13条复核")
    assert edit(url, "licence.validity", answer="有效期为5年（复核）。") is None  # nothing changed: no version
    load_facts([path], url)  # the file row did not change: the console edit stays
    assert len(history(url, "licence.validity")) == 2
    path.write_text(GOOD.replace("有效期为5年。", "有效期为五年。"), encoding="utf-8")
    load_facts([path], url)
    assert history(url, "licence.validity")[-1][:2] == (3, f"file:{path}")


def test_an_edit_needs_a_reason_and_the_version_the_editor_saw(tmp_path, url):
    load_facts([write(tmp_path, "a.yml", GOOD)], url)
    for reason in ("", "   ", "x" * (facts.MAX_REASON + 1)):
        with pytest.raises(ValueError, match="reason"):
            edit(url, "licence.validity", reason=reason, answer="有效期5年。")
    edit(url, "licence.validity", answer="有效期5年（甲）。")
    with db.session_scope(url) as session, pytest.raises(facts.StaleVersion) as stale:
        facts.edit_fact(
            "licence.validity", {"answer": "有效期5年（乙）。"}, "乙", "覆盖", session=session, base_version=1
        )
    assert stale.value.current == 2
    with pytest.raises(KeyError):
        edit(url, "no.such.fact", answer="x")
    assert len(history(url, "licence.validity")) == 2


def test_restore_brings_back_a_version_as_a_new_one(tmp_path, url):
    load_facts([write(tmp_path, "a.yml", GOOD)], url)
    edit(url, "licence.validity", answer="有效期为3年。", confidence="M", reason="错误的修改")
    with db.session_scope(url) as session:
        restored = facts.restore_version("licence.validity", 1, "admin1", "改错了", session=session)
        assert (restored.version, restored.restored_from, restored.reason) == (3, 1, "restore of v1: 改错了")
        fact = facts.get_fact("licence.validity", session=session)
        first = facts.get_version("licence.validity", 1, session=session)
        assert facts.content_of(fact) == first.content and fact.version == 3
        assert fact.corrections[0].current == "有效期5年。"  # corrections come back too
        # the same content again: no new version; history is never rewritten
        assert facts.restore_version("licence.validity", 3, "admin1", session=session) is None
        with pytest.raises(LookupError):
            facts.restore_version("licence.validity", 9, "admin1", session=session)
    assert [v for v, _, _ in history(url, "licence.validity")] == [1, 2, 3]
    assert history(url, "licence.validity")[1][2] == "错误的修改"


def test_the_answer_names_the_version_it_comes_from(tmp_path, url):
    load_facts([write(tmp_path, "a.yml", GOOD)], url)
    edit(url, "licence.validity", answer="有效期为5年（复核）。")
    with db.session_scope(url) as session:
        fact = facts.get_fact("licence.validity", session=session)
        assert facts.versioned_answer(fact, {}) == ("有效期为5年（复核）。", 2)


@pytest.mark.parametrize(
    "changes",
    [
        {"answer": "答" * 100_000},
        {"question": "问" * 5_000},
        {"confidence_note": "注" * 20_000},
        {"sources": [{"document": "文" * 5_000, "article": None}]},
    ],
    ids=["answer", "question", "note", "source"],
)
def test_s07_an_oversized_field_is_refused_and_nothing_is_saved(project_facts, changes):
    """S7: a 100,000-character answer was stored, and every later view diffed it character by character."""
    before = history(project_facts, "licence.validity")
    with pytest.raises(ValueError, match="字"):
        edit(project_facts, "licence.validity", **changes)
    assert history(project_facts, "licence.validity") == before


def test_s07_the_diff_of_two_huge_versions_comes_back_at_once():
    """S7: versions stored before the cap (or loaded from files) are still shown without tying up a thread."""
    import signal

    from web.console.facts import diff_segments

    old, new = "答" * 100_000, "答" * 99_999 + "案"

    def stop(signum, frame):
        pytest.fail("the diff was still running after 5 s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 5)
    try:
        segments = diff_segments(old, new)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert "".join(text for op, text in segments if op != "ins") == old
    assert "".join(text for op, text in segments if op != "del") == new


def test_s07_an_oversized_answer_gets_a_clear_400_on_the_edit_page(app):
    """S7: the console form says why instead of storing it."""
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    response = client.post(
        "/console/facts/licence.validity",
        data={
            "csrf_token": csrf(client, "/console/facts/licence.validity"),
            "question": "有效期多久",
            "answer": "答" * 20_000,  # 180 KB percent-encoded: under the body limit (256 KB)
            "sources": "《电信业务经营许可管理办法》 | 第十五条",
            "confidence": "H",
            "verified_date": "2026-11-01",
            "reason": "测试",
        },
    )
    assert response.status_code == 400 and "answer 最多 5000 字" in response.get_data(as_text=True)
