"""Versioned knowledge (#15): versions from files and console, restore, export back to YAML, the console screens."""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import pytest

from bot import db
from bot.facts_files.loader import load_facts, read_facts
from bot.facts_files.writer import export_facts
from bot.store import conversations, facts, staff
from tests.support.console import csrf, login
from tests.support.databases import FACTS_DIR
from tests.support.facts_files import GOOD, write
from tools.facts import main


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


def history(url: str, key: str) -> list[tuple]:
    """(version, author, reason) of a fact's versions, oldest first."""
    with db.session_scope(url) as session:
        return [(v.version, v.author, v.reason) for v in reversed(facts.versions(key, session=session))]


def knowledge(url: str) -> dict:
    """Everything a fact is, by key: content, topic, intent and place in the files."""
    with db.session_scope(url) as session:
        return {
            f.key: (facts.content_of(f), f.topic, f.intent, f.source_file, f.source_position)
            for f in facts.all_facts(session=session)
        }


def edit(url: str, key: str, editor: str = "admin1", reason: str = "复核", **changes):
    with db.session_scope(url) as session:
        version = facts.edit_fact(key, changes, editor, reason, session=session)
        return version.version if version else None


# ---------- versions from the files and the console


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


# ---------- export back to data/facts


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


def test_the_export_command(tmp_path, project_facts, capsys):
    url = project_facts
    assert main(["export", "--out", str(tmp_path / "x"), "--database-url", url]) == 0
    assert f"exported {len(read_facts([FACTS_DIR]))} facts" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "x"), "--database-url", url]) == 0
    assert "0 file(s) written, 10 unchanged" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    assert main(["export", "--out", str(tmp_path / "file"), "--database-url", url]) == 1
    assert capsys.readouterr().err.startswith("error: cannot write")


# ---------- console screens and the JSON twin


def admin(app):  # noqa: F811 - the fixture's app
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    return client


def post_edit(client, key: str, **fields):
    page = client.get(f"/console/facts/{key}").get_data(as_text=True)
    form = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page))
    form["answer"] = re.search(r'<textarea name="answer"[^>]*>([^<]*)</textarea>', page).group(1)
    form["sources"] = re.search(r'<textarea name="sources"[^>]*>([^<]*)</textarea>', page).group(1)
    form["confidence"] = re.search(r'<option value="(\w)" selected', page).group(1)
    form.update(fields)
    return client.post(f"/console/facts/{key}", data=form)


def test_the_fact_page_shows_versions_with_a_diff_and_restores(app):  # noqa: F811
    client = admin(app)
    assert (
        post_edit(
            client, "licence.validity", answer="增值电信业务经营许可证有效期为5年，到期可申请延续。", reason="补充延续"
        ).status_code
        == 302
    )
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "已保存为 v2" in page and "补充延续" in page and "loaded from data/facts/licence.yml" in page
    assert "<ins>，到期可申请延续</ins>" in page and "<del>（含呼叫中心业务）</del>" in page
    seen = client.get("/console/facts/licence.validity?seen=1").get_data(as_text=True)  # from a transcript
    assert "对话中的访客看到的是" in seen and "当前是 v2" in seen and seen.count("<ins>，到期可申请延续</ins>") == 2
    assert "seen-notice" not in client.get("/console/facts/licence.validity?seen=99999999999999999999").get_data(
        as_text=True
    )
    version_page = client.get("/console/facts/licence.validity/versions/1").get_data(as_text=True)
    assert "file:data/facts/licence.yml" in version_page and "与当前版本 v2 相比" in version_page
    token = csrf(client, "/console/facts/licence.validity")
    response = client.post("/console/facts/licence.validity/versions/1/restore", data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "已恢复 v1 的内容，保存为 v3" in page and "restore of v1" in page
    assert client.get("/console/facts/licence.validity/versions/7").status_code == 404
    assert (
        client.post("/console/facts/licence.validity/versions/7/restore", data={"csrf_token": token}).status_code == 404
    )


def test_a_form_loaded_before_someone_else_s_edit_is_refused_not_lost(app):  # noqa: F811
    first, second = admin(app), admin(app)
    assert post_edit(first, "licence.renewal", answer="甲的修改。", reason="甲").status_code == 302
    response = post_edit(second, "licence.renewal", base_version="1", answer="乙的修改。", reason="乙")
    assert response.status_code == 409 and "现为 v2" in response.get_data(as_text=True)
    assert "乙的修改。" in response.get_data(as_text=True)  # the form keeps what was typed
    assert 'name="base_version" value="2"' in response.get_data(as_text=True)  # saving it now is deliberate
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        assert facts.get_fact("licence.renewal", session=session).answer == "甲的修改。"
    assert post_edit(second, "licence.renewal", reason="").status_code == 400


def test_versions_api_twin_is_for_admins(app):  # noqa: F811
    client = admin(app)
    post_edit(client, "licence.validity", answer="有效期为五年。", reason="写法统一")
    body = client.get("/console/api/facts/licence.validity/versions").get_json()
    assert body["key"] == "licence.validity" and body["version"] == 2
    newest, first = body["versions"]
    assert (newest["version"], newest["author"], newest["reason"], newest["changed"]) == (
        2,
        "admin1",
        "写法统一",
        ["answer"],
    )
    assert newest["content"]["answer"] == "有效期为五年。" and first["changed"] == list(facts.CONTENT_FIELDS)
    assert newest["created_at"].endswith("Z")
    assert client.get("/console/api/facts/no.such/versions").get_json() == {"error": "no such fact"}
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        agent_token = staff.create_token("crm", session=session)
        admin_token = staff.create_token("ops", role="admin", session=session)
    anonymous = app.test_client()
    assert anonymous.get("/console/api/facts/licence.validity/versions").status_code == 401
    assert (
        anonymous.get(
            "/console/api/facts/licence.validity/versions", headers={"Authorization": f"Bearer {agent_token}"}
        ).status_code
        == 403
    )
    assert (
        anonymous.get(
            "/console/api/facts/licence.validity/versions", headers={"Authorization": f"Bearer {admin_token}"}
        ).get_json()["version"]
        == 2
    )
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert agent.get("/console/api/facts/licence.validity/versions").status_code == 403
    assert agent.get("/console/facts/licence.validity/versions/1").status_code == 403


def test_the_console_export_is_the_files_with_the_edit(app):  # noqa: F811
    client = admin(app)
    post_edit(client, "licence.validity", answer="有效期为五年。", reason="写法统一")
    archive = zipfile.ZipFile(io.BytesIO(client.get("/console/facts/export.zip").get_data()))
    names = sorted(archive.namelist())
    assert names == sorted(f"facts/{p.name}" for p in FACTS_DIR.glob("*.yml"))
    assert archive.read("facts/foreign.yml") == (FACTS_DIR / "foreign.yml").read_bytes()
    assert "    answer: 有效期为五年。\n" in archive.read("facts/licence.yml").decode("utf-8")
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    assert agent.get("/console/facts/export.zip").status_code == 403


# ---------- the transcript as a chat


def test_bubbles_know_the_message_they_answer_and_their_fact():
    from web.console.conversations import chat

    user = {"kind": "user", "text": "有效期多久", "intent": "ask_validity", "ranking": ["ask_validity", "ask_renewal"]}
    items = [
        user,
        {"kind": "bot", "text": "5年", "fact_key": "licence.validity", "fact_version": 3},
        {"kind": "bot", "text": "更正", "fact_key": "licence.validity", "fact_version": 3},
        {"kind": "fact", "fact_key": "licence.validity"},
        {"kind": "action", "name": "action_answer_fact"},
        {"kind": "user", "text": "年报", "intent": "ask_annual_report"},
        {"kind": "bot", "text": "旧对话的回答"},
        {"kind": "fact", "fact_key": "annual.report"},
        {"kind": "pause"},
        {"kind": "staff", "text": "您好", "staff": "小陈"},
    ]
    bubbles = chat(items)
    assert [b["side"] for b in bubbles] == ["visitor", "bot", "bot", "visitor", "bot", "system", "staff"]
    assert bubbles[1]["reply_to"] is user and bubbles[2]["reply_to"] is None
    assert (bubbles[1]["show_fact"], bubbles[2]["show_fact"]) == (True, False)  # one chip per answer
    # before answers named their version, the slot still names the fact
    assert (bubbles[4]["fact_key"], bubbles[4]["fact_version"], bubbles[4]["show_fact"]) == (
        "annual.report",
        None,
        True,
    )
    assert bubbles[6]["reply_to"] is None and not bubbles[6].get("show_fact")


def test_the_transcript_is_a_chat_with_chips_and_fixes_for_admins(app, monkeypatch):  # noqa: F811
    from web.console import conversations as screen

    items = [
        {
            "kind": "user",
            "at": "2026-11-29T10:45:00Z",
            "text": "許可證有效期多久",
            "normalized": "许可证有效期多久",
            "intent": "ask_validity",
            "confidence": 0.42,
            "entities": [],
            "ranking": ["ask_validity", "ask_renewal"],
        },
        {
            "kind": "bot",
            "at": "2026-11-29T10:45:01Z",
            "text": "有效期为5年。<b>x</b>",
            "response": "utter_fact",
            "staff": None,
            "buttons": [],
            "fact_key": "licence.validity",
            "fact_version": 1,
        },
    ]
    summary = {
        "conversation_id": "c1",
        "channel": "rest",
        "first_at": "2026-11-29T10:45:00Z",
        "last_at": "2026-11-29T10:45:01Z",
        "user_messages": 1,
        "reviewed": False,
        "tags": [],
        "note": None,
    }
    monkeypatch.setattr(screen, "load", lambda conversation_id: (summary, items, []))
    client = admin(app)
    page = client.get("/console/conversations/c1").get_data(as_text=True)
    visible = re.sub(r"<[^>]+>", " ", page)
    assert "11月29日 18:45" in visible and "T10:45" not in visible  # China time, no raw ISO stamps
    assert 'class="chip intent low"' in page and "ask_validity 0.42" in page
    assert '/console/facts/licence.validity/versions/1"' in page and ">licence.validity v1<" in page
    assert "/console/facts/licence.validity?seen=1" in page
    assert "应答为 licence.renewal" in page  # the NLU's second choice, one click
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    token = csrf(client, "/console/conversations/c1")
    response = client.post(
        "/console/conversations/c1/collect",
        data={"csrf_token": token, "text": "许可证有效期多久", "intent": "ask_renewal"},
    )
    assert response.status_code == 302
    with db.session_scope(app.config["SETTINGS"].database_url) as session:
        example = session.query(conversations.CollectedExample).one()
        assert (example.text, example.intent, example.collected_by) == ("许可证有效期多久", "ask_renewal", "admin1")
    agent = app.test_client()
    login(agent, "agent1", "agent password 1")
    page = agent.get("/console/conversations/c1").get_data(as_text=True)
    assert "编辑这条事实" not in page and "应答为" not in page and "/console/facts/" not in page
    assert ">licence.validity v1<" in page and 'data-testid="collect"' in page


# ---------- S7: bounded fields and a bounded diff


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
