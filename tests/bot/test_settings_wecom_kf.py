"""The 微信客服 channel's settings: all credentials or none, checked at boot; off without them."""

from __future__ import annotations

import logging

import pytest

from bot import settings
from tests.support.fake_wecom_kf import KF


def test_without_kf_settings_the_channel_is_off():
    kf = settings.load({}).wecom_kf
    assert not kf.enabled and kf.queue == "console" and kf.api_base.startswith("https://qyapi.weixin.qq.com/")


def test_all_four_credentials_turn_it_on():
    kf = settings.load({**KF, "WECOM_KF_QUEUE": "wecom"}).wecom_kf
    assert kf.enabled and kf.corp_id == KF["WECOM_KF_CORP_ID"] and kf.queue == "wecom"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WECOM_KF_CORP_ID": "ww0123456789abcdef"}, "WECOM_KF_SECRET, WECOM_KF_TOKEN, WECOM_KF_AES_KEY missing"),
        ({**KF, "WECOM_KF_AES_KEY": "short"}, "43 letters and digits"),
        ({**KF, "WECOM_KF_TOKEN": "has spaces in it"}, "3 to 32 letters or digits"),
        ({**KF, "WECOM_KF_CORP_ID": "ww/../x"}, "corp id"),
        ({**KF, "WECOM_KF_API_BASE": "ftp://example.com/"}, "http(s) URL ending in /"),
        ({**KF, "WECOM_KF_API_BASE": "https://qyapi.weixin.qq.com/cgi-bin"}, "ending in /"),
        ({**KF, "WECOM_KF_QUEUE": "nobody"}, "console or wecom"),
    ],
)
def test_a_bad_value_stops_the_boot_with_one_clear_line(env, message):
    with pytest.raises(settings.SettingsError) as error:
        settings.load(env)
    assert message in str(error.value)
    assert KF["WECOM_KF_SECRET"] not in str(error.value)


def test_services_that_do_not_run_the_channel_need_none_of_it():
    assert not settings.load({"ASSISTANT_SERVICE": "web", "WECOM_KF_CORP_ID": "ww01234567"}).wecom_kf.enabled


def test_the_channel_says_once_that_it_is_off(monkeypatch, caplog):
    from bot.plugins.channels.wecom_kf import WeComKFInput

    monkeypatch.setattr(settings, "_current", settings.load({}))
    with caplog.at_level(logging.INFO, logger="bot.plugins.channels.wecom_kf"):
        channel = WeComKFInput.from_credentials(None)
        channel.blueprint(lambda message: None)  # type: ignore[arg-type,return-value]
    assert [r.getMessage() for r in caplog.records].count(
        "WeCom KF channel is off: WECOM_KF_CORP_ID, _SECRET, _TOKEN and _AES_KEY are not set"
    ) == 1
    assert channel.get_output_channel() is None
