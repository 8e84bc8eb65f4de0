"""Console screen: conversations (search as agents and admins may)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from bot import db
from bot.store import conversations
from tests.support.console import PHONE, admin_client, conversation_with_a_phone, csrf, login


@pytest.fixture
def app(console_app):
    return console_app


@pytest.mark.parametrize("q", ["138", "5678", "1234567", "1 3 8", "138-1234", "１３８", "我的电话 138"])
def test_s03_agents_cannot_search_for_the_digits_of_a_phone(app, q):
    """S3: console search ran over the unmasked text: q=139… was a yes/no oracle for a masked phone."""
    conversation_with_a_phone(app.config["SETTINGS"].database_url)
    client = app.test_client()
    login(client, "agent1", "agent password 1")
    page = client.get("/console/conversations", query_string={"q": q})
    api = client.get("/console/api/conversations", query_string={"q": q})
    assert page.status_code == 400 and api.status_code == 400
    assert "s03-phone" not in page.get_data(as_text=True) + api.get_data(as_text=True)


def test_s03_agents_still_search_words_and_admins_search_phones(app):
    conversation_with_a_phone(app.config["SETTINGS"].database_url)
    agent, admin = app.test_client(), app.test_client()
    login(agent, "agent1", "agent password 1")
    login(admin, "admin1", "admin password 1")
    assert "s03-phone" in agent.get("/console/conversations", query_string={"q": "电话"}).get_data(as_text=True)
    assert "s03-phone" in admin.get("/console/conversations", query_string={"q": PHONE}).get_data(as_text=True)


def test_the_list_and_the_transcript_show_the_same_beijing_time_and_name_the_zone_once(app):
    """A message at 16:16 UTC is 「12月8日 00:16」 in the list as in the transcript (the list showed UTC)."""
    year = dt.datetime.now(dt.timezone.utc).year
    conversation = conversation_with_a_phone(app.config["SETTINGS"].database_url, at=dt.datetime(year, 12, 7, 16, 16))
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    listed = client.get("/console/conversations").get_data(as_text=True)
    transcript = client.get(f"/console/conversations/{conversation}").get_data(as_text=True)
    for page in (listed, transcript):
        assert "12月8日 00:16" in page and "16:16" not in page
        assert page.count("北京时间") == 1


def test_the_dashboard_counts_days_and_names_lead_statuses_as_staff_read_them(app):
    """The per-day chart counts Beijing days; the funnel's bars are 新线索 … 已流失, not new … lost."""
    yesterday = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=1)
    late = yesterday.replace(hour=17, minute=0)  # 01:00 the next day in Beijing
    conversation_with_a_phone(app.config["SETTINGS"].database_url, at=late)
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    data = client.get("/console/dashboard").get_data(as_text=True)
    figures = json.loads(
        re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', data).group(1)
    )
    assert [row["day"] for row in figures["per_day"]] == [(late + dt.timedelta(hours=8)).date().isoformat()]
    assert {figures["lead_status_labels"][s] for s in figures["lead_funnel"]} == {
        "新线索",
        "已联系",
        "有意向",
        "已成交",
        "已流失",
    }


def test_the_transcript_is_a_chat_with_chips_and_fixes_for_admins(app, monkeypatch):
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
    client = admin_client(app)
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
