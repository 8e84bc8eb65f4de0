"""Console conversations over the tracker store filled by real conversations with the running stack."""

from __future__ import annotations

import re
import uuid

import pytest

from bot import db, settings
from bot.store import facts, staff
from tests.support.console import csrf, login, summaries_caught_up
from web import create_app
from web.console import auth


@pytest.fixture
def client(stack):
    config = settings.load({**stack.env})
    app = create_app(config)
    with db.session_scope(config.database_url) as session:
        if not session.query(staff.StaffUser).filter_by(name="reviewer").one_or_none():
            staff.create_user("reviewer", "admin", "reviewer password", session=session)
    auth._failures.clear()
    client = app.test_client()
    login(client, "reviewer", "reviewer password")
    return client


def test_filters_transcript_and_review(stack, client):
    sender = f"console-{uuid.uuid4().hex}"
    stack.say(sender, "<script>alert(1)</script>")
    stack.say(sender, "註冊資本五百萬元能辦全網嗎")
    stack.say(sender, "/ask_capital@0.3", trusted=True)  # unsure: the bot asks 您是想问
    other = f"console-{uuid.uuid4().hex}"
    stack.say(other, "全网和地网有什么区别")
    summaries_caught_up(stack.tracker_store_url, stack.database_url)  # the notifier folds them

    found = client.get("/console/api/conversations", query_string={"q": "五百萬"}).get_json()
    # the stack is shared: other tests' visitors may have written 五百萬 too
    matches = {c["conversation_id"]: c for c in found["conversations"]}
    assert sender in matches and other not in matches
    assert matches[sender]["channel"] == "rest"
    fell_back = client.get("/console/api/conversations", query_string={"fallback": "1", "q": "alert"}).get_json()
    assert sender in [c["conversation_id"] for c in fell_back["conversations"]]
    clean = client.get("/console/api/conversations", query_string={"fallback": "0", "q": "全网和地网"}).get_json()
    assert other in [c["conversation_id"] for c in clean["conversations"]]
    assert sender not in [c["conversation_id"] for c in clean["conversations"]]

    page = client.get(f"/console/conversations/{sender}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)</script>" not in page
    assert "注册资本500万能办全网吗" in page  # the normalised text beside the original
    detail = client.get(f"/console/api/conversations/{sender}").get_json()
    user = [i for i in detail["transcript"] if i["kind"] == "user"][1]
    assert user["intent"] == "ask_capital" and {"entity": "capital", "value": 500} in user["entities"]
    assert any(i["kind"] == "fact" and i["fact_key"] == "conditions.capital" for i in detail["transcript"])

    token = csrf(client, f"/console/conversations/{sender}")
    client.post(
        f"/console/conversations/{sender}/review",
        data={"csrf_token": token, "reviewed": "1", "tags": "资本, 待改进", "note": "答得对"},
    )
    reviewed = client.get("/console/api/conversations", query_string={"reviewed": "1", "tag": "待改进"}).get_json()
    assert [c["conversation_id"] for c in reviewed["conversations"]] == [sender]
    assert reviewed["conversations"][0]["note"] == "答得对"


def test_fact_edit_in_the_console_changes_the_running_bots_next_answer(stack, client):
    sender = f"console-{uuid.uuid4().hex}"
    with db.session_scope(stack.database_url) as session:
        original = facts.get_fact("licence.cancellation", session=session).version
    token = csrf(client, "/console/facts/licence.cancellation")
    page = client.get("/console/facts/licence.cancellation").get_data(as_text=True)
    verified = re.search(r'name="verified_date" value="([^"]+)"', page).group(1)
    try:
        client.post(
            "/console/facts/licence.cancellation",
            data={
                "csrf_token": token,
                "question": "怎么注销？",
                "answer": "停止经营须提前90日申请（控制台已更新）。",
                "confidence": "H",
                "confidence_note": "",
                "verified_date": verified,
                "sources": "中华人民共和国电信条例 | 第15条",
                "reason": "测试：控制台修改",
            },
        )
        assert "控制台已更新" in stack.text(sender, "呼叫中心许可证怎么注销")
    finally:
        with db.session_scope(stack.database_url) as session:
            facts.restore_version("licence.cancellation", original, "reviewer", session=session)


def test_filter_values_that_look_like_sql_are_just_text(client):
    body = client.get(
        "/console/api/conversations", query_string={"q": "' OR 1=1 --", "tag": "%", "from": "not-a-date"}
    ).get_json()
    assert body["conversations"] == [] and body["total"] == 0


def test_dashboard_counts_real_conversations(stack, client):
    sender = f"dash-{uuid.uuid4().hex}"
    stack.say(sender, "年报什么时候截止")
    for _ in range(4):  # the bot is unsure: an unanswered question, asked often enough to rank in the top 10
        stack.say(sender, "/ask_fees@0.2", trusted=True)
    summaries_caught_up(stack.tracker_store_url, stack.database_url)  # the notifier folds them
    data = client.get("/console/api/dashboard").get_json()
    assert data["conversations"] >= 1 and 0 < data["fallback_rate"] < 1
    assert any(t["fact_key"] == "annual.report" for t in data["top_topics"])
    assert any(u["text"] == "/ask_fees@0.2" for u in data["top_unanswered"])
    assert set(data["lead_funnel"]) == {"new", "contacted", "qualified", "won", "lost"}
    page = client.get("/console/dashboard")
    assert page.status_code == 200 and "chart.umd.js" in page.get_data(as_text=True)
    with client.get("/console/vendor/chart.umd.js") as script:  # a file response holds the file open until closed
        assert script.status_code == 200


def test_an_in_scope_question_without_a_fact_is_answered_honestly_and_queued_for_review(stack, client):
    """Issue #13: an ICP question is a prospective client's: no refusal, a consultant, and staff see it."""
    sender = f"console-{uuid.uuid4().hex}"
    messages = stack.say(sender, "我们还想办ICP许可证，你们能一起办吗")
    text = "\n".join(m.get("text", "") for m in messages)
    assert "不在我的服务范围" not in text and "依据：" not in text
    assert "顾问" in text
    assert {"title": "联系顾问", "payload": "/request_consultant"} in [
        b for m in messages for b in m.get("buttons", [])
    ]
    summaries_caught_up(stack.tracker_store_url, stack.database_url)  # the notifier folds them
    queued = client.get("/console/api/conversations", query_string={"needs_review": "1", "q": "ICP"}).get_json()
    assert sender in [c["conversation_id"] for c in queued["conversations"]]
