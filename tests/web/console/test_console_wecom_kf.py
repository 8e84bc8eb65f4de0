"""The console's 微信客服 screen: visitors by the link that brought them, and what WeChat did not deliver."""

from __future__ import annotations

from bot.store import wecom_kf
from tests.support.console import login


def test_visitors_are_listed_and_filtered_by_scene_with_undelivered_messages(console_app):
    url = console_app.config["SETTINGS"].database_url
    wecom_kf.entered(url, "wmAdVisitor01", "wk1", "baidu_ad", "kw=全网")
    wecom_kf.entered(url, "wmSiteVisitor2", "wk1", "site_pricing", "")
    wecom_kf.problem(url, "wmAdVisitor01", "wk1", "refused", "超过5条限制，未发送", 95001, "答：注册资本")
    client = console_app.test_client()
    login(client, "agent1", "agent password 1")
    page = client.get("/console/wecom_kf").get_data(as_text=True)
    assert "baidu_ad" in page and "site_pricing" in page and "超过5条限制" in page and "95001" in page
    filtered = client.get("/console/wecom_kf?scene=baidu_ad").get_data(as_text=True)
    assert "kw=全网" in filtered and "wmSiteVisito" not in filtered
    listing = client.get("/console/api/wecom_kf?scene=site_pricing").get_json()
    assert [v["conversation_id"] for v in listing["visitors"]] == ["wmSiteVisitor2"]
    assert set(listing["scenes"]) == {"baidu_ad", "site_pricing"}
    assert listing["problems"][0]["code"] == 95001


def test_the_screen_needs_a_login(console_app):
    response = console_app.test_client().get("/console/wecom_kf")
    assert response.status_code in (302, 401)
