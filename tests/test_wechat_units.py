"""WeChat reply rendering and the shared store, without a server."""
from bot.channels import wechat_store
from bot.channels.wechat import render_messages, split_text


def test_buttons_become_numbered_options():
    text, payloads = render_messages([
        {"text": "您好！"},
        {"text": "您是想问……", "buttons": [{"title": "申请条件", "payload": "/ask_conditions"},
                                          {"title": "材料", "payload": "/ask_materials"}]},
    ])
    assert text == "您好！\n\n您是想问……\n\n回复 1：申请条件\n回复 2：材料"
    assert payloads == ["/ask_conditions", "/ask_materials"]


def test_long_replies_split_at_sentence_ends_within_the_limit():
    text = "。".join(["呼叫中心许可证" * 10] * 20) + "。"
    parts = split_text(text, limit=200)
    assert len(parts) > 1 and all(len(p) <= 200 for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("。") for p in parts[:-1])


def test_short_reply_is_one_part():
    assert split_text("有效期5年。") == ["有效期5年。"]
    assert split_text("") == []


def test_claim_is_once_per_key_and_retries_see_the_reply(empty_database):
    url = empty_database
    assert wechat_store.claim(url, "msg:1")
    assert not wechat_store.claim(url, "msg:1")
    wechat_store.finish(url, "msg:1", "答案")
    import asyncio
    assert asyncio.run(wechat_store.wait_reply(url, "msg:1", 1)) == "答案"


def test_choices_are_remembered_per_follower(empty_database):
    url = empty_database
    wechat_store.remember_choices(url, "openid-a", ["/ask_conditions", "/ask_materials"])
    assert wechat_store.choice(url, "openid-a", 2) == "/ask_materials"
    assert wechat_store.choice(url, "openid-a", 3) is None
    assert wechat_store.choice(url, "openid-b", 1) is None


def test_token_storage_expires_before_the_real_expiry(empty_database):
    storage = wechat_store.SqlSessionStorage(empty_database)
    storage.set("app_access_token", "abc", 7200)
    assert storage.get("app_access_token") == "abc"
    storage.set("app_access_token", "old", 100)  # under the refresh margin: treated as expired
    assert storage.get("app_access_token") is None
