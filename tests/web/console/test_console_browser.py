"""The console in a real browser: login → filter → transcript → mark reviewed → lead status."""

from __future__ import annotations

import uuid

import pytest

from bot import db
from bot.store import leads, staff
from tests.support.browser import MISSING, chromium_missing
from tests.support.widget import Visitor

pytestmark = pytest.mark.skipif(chromium_missing(), reason=MISSING)


def test_staff_review_flow(stack, browser):
    sender, phone = f"browser-{uuid.uuid4().hex}", "137" + str(uuid.uuid4().int)[:8]
    stack.say(sender, "外资公司的注册资本要求是多少")
    with db.session_scope(stack.database_url) as session:
        if not session.query(staff.StaffUser).filter_by(name="browser-admin").one_or_none():
            staff.create_user("browser-admin", "admin", "browser password", session=session)
        lead, _ = leads.save_lead(
            {"conversation_id": sender, "channel": "rest", "name": "周女士", "phone": phone, "consent": True},
            session=session,
        )
        lead_id = lead.id
    page = browser.new_page(locale="zh-CN")
    try:
        page.set_default_timeout(45000)  # a bound for a loaded 2-core CI machine, not a speed check
        page.goto(stack.web_url + "/console")
        page.fill("input[name=username]", "browser-admin")
        page.fill("input[name=password]", "browser password")
        page.click("button[type=submit]")
        page.get_by_test_id("conversation-search").fill("外资公司的注册资本")
        page.get_by_role("button", name="筛选").click()
        page.get_by_test_id("conversation-row").first.get_by_role("link").click()
        assert "外资公司的注册资本要求是多少" in page.get_by_test_id("transcript-user").first.inner_text()
        page.get_by_test_id("mark-reviewed").check()
        page.get_by_test_id("save-review").click()
        assert page.get_by_test_id("mark-reviewed").is_checked()
        page.goto(f"{stack.web_url}/console/leads/{lead_id}")
        page.get_by_test_id("lead-status").select_option("qualified")
        page.get_by_test_id("save-lead").click()
        assert page.get_by_test_id("lead-status").input_value() == "qualified"
    finally:
        page.close()
    with db.session_scope(stack.database_url) as session:
        assert session.get(leads.Lead, lead_id).status == "qualified"


def test_handoff_desk_claims_and_replies_live(stack, browser):
    with db.session_scope(stack.database_url) as session:
        if not session.query(staff.StaffUser).filter_by(name="desk-agent").one_or_none():
            staff.create_user("desk-agent", "agent", "desk password 1", session=session)
    visitor = Visitor(stack.rasa_url, stack.web_url)
    page = browser.new_page(locale="zh-CN")
    try:
        visitor.say("转人工")
        visitor.wait_for("正在为您转接人工顾问")
        page.set_default_timeout(45000)  # a bound for a loaded 2-core CI machine, not a speed check
        page.goto(stack.web_url + "/console/login")
        page.fill("input[name=username]", "desk-agent")
        page.fill("input[name=password]", "desk password 1")
        page.click("button[type=submit]")
        page.goto(stack.web_url + "/console/handoff")
        row = page.get_by_test_id("handoff-row").filter(has_text=visitor.session_id[:12])
        row.get_by_role("button").click()
        page.get_by_test_id("staff-reply").fill("您好，我是顾问小陈，请问贵公司在哪个省？")
        page.get_by_role("button", name="发送").click()
        visitor.wait_for("我是顾问小陈")
        page.get_by_role("button", name="结束接待，交还助手").click()
        visitor.wait_for("人工服务已结束")
    finally:
        page.close()
        visitor.client.disconnect()
