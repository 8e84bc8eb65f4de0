"""``python -m tools.kf``: the KF accounts and a contact link per scene, against the fake KF API."""

from __future__ import annotations

import pytest

from tests.support.fake_wecom_kf import KF, FakeWeComKF
from tools import kf


@pytest.fixture
def fake(monkeypatch, empty_database):
    with FakeWeComKF() as running:
        for name, value in {**KF, "WECOM_KF_API_BASE": running.base, "DATABASE_URL": empty_database}.items():
            monkeypatch.setenv(name, value)
        yield running


def test_link_for_a_scene_carries_its_parameter(fake, capsys):
    account = fake.add_account()
    assert kf.main(["link", "--scene", "baidu_ad", "--scene-param", "kw=全网 许可证"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith(f"https://work.weixin.qq.com/kfid/{account}?enc_scene=baidu_ad")
    assert url.endswith("&scene_param=kw%3D%E5%85%A8%E7%BD%91%20%E8%AE%B8%E5%8F%AF%E8%AF%81")
    assert fake.contact_ways == [{"open_kfid": account, "scene": "baidu_ad"}]


def test_accounts_are_listed(fake, capsys):
    account = fake.add_account("官网咨询")
    assert kf.main(["accounts"]) == 0
    assert f"{account}\t官网咨询" in capsys.readouterr().out


def test_a_bad_scene_or_a_refusal_is_one_line_without_wecoms_text(fake, capsys):
    fake.add_account()
    with pytest.raises(SystemExit):
        kf.main(["link", "--scene", "有空格 的"])
    assert kf.main(["link", "--scene", "ok", "--open-kfid", "wkNoSuchAccount"]) == 1
    err = capsys.readouterr().err
    assert "errcode 95000" in err and "devtool" not in err


def test_without_settings_it_says_the_channel_is_off(monkeypatch, capsys):
    for name in KF:
        monkeypatch.delenv(name, raising=False)
    assert kf.main(["accounts"]) == 2
    assert "channel is off" in capsys.readouterr().err
