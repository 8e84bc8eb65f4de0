"""Versioned knowledge and the chat transcript in a real browser, against the running stack (#15).

Edit a fact with a reason → the history shows the new version with its diff → restore the first
version → the bot's next answer uses the restored text → the transcript shows that answer as a bubble
with its fact version chip and China time → 「应答为…」 collects a training example in one click.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from bot import db
from bot.store import conversations, facts, staff
from tests.support.browser import ARTIFACTS, MISSING, chromium_missing
from tests.support.console import summaries_caught_up

pytestmark = pytest.mark.skipif(chromium_missing(), reason=MISSING)

KEY, QUESTION = "licence.validity", "呼叫中心许可证有效期多久"
CHINA = dt.timezone(dt.timedelta(hours=8))


def china_minutes() -> set[str]:
    """「11月29日 18:45」 for this minute and the one before (the answer may straddle a minute)."""
    now = dt.datetime.now(CHINA)
    return {f"{t.month}月{t.day}日 {t:%H:%M}" for t in (now, now - dt.timedelta(minutes=1))}


def test_edit_restore_answer_and_fix_from_the_transcript(stack, browser):
    from playwright.sync_api import expect

    with db.session_scope(stack.database_url) as session:
        if not session.query(staff.StaffUser).filter_by(name="knowledge-admin").one_or_none():
            staff.create_user("knowledge-admin", "admin", "knowledge password", session=session)
        fact = facts.get_fact(KEY, session=session)
        original, start = fact.answer, fact.version
    edited = original.replace("5年", "5年（浏览器测试改版）")
    assert edited != original
    sender = f"knowledge-{uuid.uuid4().hex}"
    page = browser.new_page(locale="zh-CN")
    try:
        page.set_default_timeout(45000)  # a bound for a loaded 2-core CI machine, not a speed check
        page.goto(stack.web_url + "/console/login")
        page.fill("input[name=username]", "knowledge-admin")
        page.fill("input[name=password]", "knowledge password")
        page.click("button[type=submit]")

        # edit with a reason: a new version, its diff against the one before
        page.goto(f"{stack.web_url}/console/facts/{KEY}")
        page.get_by_test_id("fact-answer").fill(edited)
        page.get_by_test_id("fact-reason").fill("核对有效期的写法")
        page.get_by_test_id("save-fact").click()
        expect(page.locator(".flash")).to_have_text(f"已保存为 v{start + 1}。")
        newest = page.get_by_test_id("fact-version").first
        expect(newest).to_contain_text(f"v{start + 1}")
        expect(newest).to_contain_text("knowledge-admin")
        expect(newest.get_by_test_id("version-reason")).to_have_text("核对有效期的写法")
        expect(newest.locator("ins")).to_have_text("（浏览器测试改版）")

        # restore the version before: a new version, history kept
        page.locator(f"#v{start}").get_by_test_id("restore").click()
        expect(page.locator(".flash")).to_have_text(f"已恢复 v{start} 的内容，保存为 v{start + 2}。")
        expect(page.get_by_test_id("current-version")).to_have_text(f"v{start + 2}")
        expect(page.get_by_test_id("fact-answer")).to_have_value(original)
        expect(page.get_by_test_id("fact-version")).to_have_count(start + 2)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-fact-versions.png"), full_page=True)

        # the running bot answers with the restored text
        answer = stack.text(sender, QUESTION)
        assert original in answer and "浏览器测试改版" not in answer

        # the transcript: bubbles, Beijing time, the fact version chip (once the notifier has folded it)
        summaries_caught_up(stack.tracker_store_url, stack.database_url)
        page.goto(f"{stack.web_url}/console/conversations/{sender}")
        visitor = page.get_by_test_id("transcript-user").first
        expect(visitor).to_contain_text(QUESTION)
        reply = page.get_by_test_id("transcript-bot").filter(has_text=original).first
        chip = reply.get_by_test_id("fact-chip")
        expect(chip).to_have_text(f"{KEY} v{start + 2}")
        assert reply.get_by_test_id("bubble-time").inner_text() in china_minutes()
        # visitor left, bot right
        assert visitor.bounding_box()["x"] < 100 < reply.bounding_box()["x"]
        assert not re.search(r"\d{4}-\d\d-\d\dT", page.locator("main").inner_text())
        page.screenshot(path=str(ARTIFACTS / "console-transcript.png"), full_page=True)

        # one click from the bubble: this message should have been another fact (a training example)
        reply.get_by_test_id("answer-as-fact").select_option("ask_renewal")
        reply.get_by_test_id("answer-as-submit").click()
        expect(page.locator(".flash")).to_contain_text("→ ask_renewal")

        # the chip opens the version the visitor got
        page.get_by_test_id("transcript-bot").filter(has_text=original).first.get_by_test_id("fact-chip").click()
        expect(page.get_by_test_id("version-reason")).to_have_text(f"restore of v{start}")
        expect(page.get_by_test_id("version-content")).to_contain_text(original)
    finally:
        page.close()
    with db.session_scope(stack.database_url) as session:
        [example] = session.query(conversations.CollectedExample).filter_by(conversation_id=sender).all()
        assert (example.intent, example.collected_by) == ("ask_renewal", "knowledge-admin")
        assert example.text == "呼叫中心许可证有效期多久"
