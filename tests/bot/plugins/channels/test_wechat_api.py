"""The WeChat API client (bot/plugins/channels/wechat_api.py): one token shared by every process, permanent refusals."""

from __future__ import annotations

import pytest

from bot.plugins.channels import wechat_api
from bot.store import wechat as wechat_store
from tests.support.fake_wechat import FakeWeChat


def test_clients_share_the_token_kept_in_the_session_they_are_given(empty_database):
    with FakeWeChat() as fake:
        for _ in range(2):  # two processes: the second finds the first one's token in the database
            api = wechat_api.client("app", "secret", fake.base, wechat_store.SqlSessionStorage(empty_database))
            wechat_api.send_text(api, "openid-1", "您好")
    assert fake.tokens_issued == 1
    assert [(m["touser"], m["text"]["content"]) for m in fake.sent] == [("openid-1", "您好")] * 2


def test_a_follower_silent_for_48_hours_is_undeliverable_with_the_code_only(empty_database):
    with FakeWeChat() as fake:
        api = wechat_api.client("app", "secret", fake.base, wechat_store.SqlSessionStorage(empty_database))
        fake.fail_next_send_with = 45015
        with pytest.raises(wechat_api.Undeliverable, match=r"^errcode 45015$"):
            wechat_api.send_text(api, "openid-1", "您好")
    assert fake.sent == []
