"""Entities from the spaCy EntityRuler built from bot/lexicon/entities.yml."""

from __future__ import annotations

import pytest
import yaml

from bot.plugins.nlu.entities import (
    DEFAULT_LEXICON,
    DEFAULT_PLACES,
    read_lexicon,
)
from tests.support.nlu import entity_extractor


@pytest.fixture(scope="module")
def extract():
    run = entity_extractor()
    return lambda text: {(e["entity"], e["value"]) for e in run(text)}


def test_lexicon_has_all_31_provinces():
    assert len(read_lexicon(DEFAULT_LEXICON)["phrases"]["province"]) == 31


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我在广东办地网找谁", {("province", "广东省"), ("licence_scope", "地网")}),
        ("注册资本500万能办全网吗", {("capital", 500), ("licence_scope", "全网")}),
        ("注冊資本一千萬元夠不夠", {("capital", 1000)}),
        ("那省内的呢", {("licence_scope", "地网")}),
        ("我们想跨省经营", {("licence_scope", "全网")}),
        (
            "我们是外商独资，在沪做云客服",
            {("company_type", "外资"), ("province", "上海市"), ("business_kind", "云呼叫中心")},
        ),
        ("申请96开头的号码", {("number_type", "96号码")}),
        ("个体工商户能办吗", {("company_type", "个体户")}),
        ("只在一个省", {("licence_scope", "地网")}),
        ("广西的地网", {("province", "广西壮族自治区"), ("licence_scope", "地网")}),
    ],
)
def test_entities_with_canonical_values(extract, text, expected):
    assert extract(text) == expected


def test_short_province_name_only_matches_as_its_own_word(extract):
    assert ("province", "北京市") not in extract("京东的客服外包要证吗")


@pytest.mark.parametrize(
    "text, province",
    [
        ("我们在苏州，地网找谁", "江苏省"),
        ("公司注册在苏州工业园区", "江苏省"),
        ("深圳南山的公司", "广东省"),
        ("海淀中关村的企业", "北京市"),
        ("公司在浦东张江", "上海市"),
        ("乌鲁木齐的企业", "新疆维吾尔自治区"),
        ("南宁的公司", "广西壮族自治区"),
        ("延边的企业", "吉林省"),
        ("昆山的工厂", "江苏省"),
        ("重庆渝北的", "重庆市"),
    ],
)
def test_a_city_or_district_names_its_province(extract, text, province):
    assert ("province", province) in extract(text)


@pytest.mark.parametrize("text", ["我们用阿里云的呼叫中心", "合作伙伴在哪里找", "东方的客户"])
def test_words_that_only_look_like_places_are_no_province(extract, text):
    assert not {e for e in extract(text) if e[0] == "province"}


@pytest.mark.parametrize(
    "text, scope",
    [
        ("客户在北京和天津两个地方，办地网够用吗", "全网"),  # the places outweigh what was asked
        ("我们在苏州，但是客户有浙江的也有上海的", "全网"),
        ("银行分别在北京、天津、河北", "全网"),
        ("客户主要在江浙沪", "全网"),
        ("坐席在郑州，来电都是外省的", "全网"),
        ("客户遍布全国", "全网"),
        ("我们是台资企业，在厦门，只在福建做客服外包", "地网"),
        ("只做江苏的业务", "地网"),
    ],
)
def test_places_imply_the_licence_scope(extract, text, scope):
    found = extract(text)
    assert ("licence_scope", scope) in found
    assert not {e for e in found if e[0] == "licence_scope" and e[1] != scope}


def test_one_place_alone_implies_no_scope(extract):
    assert not {e for e in extract("我们公司在苏州") if e[0] == "licence_scope"}


def test_a_licence_never_used_is_recognised_for_the_renewal_answer(extract):
    assert ("operation", "未开通") in extract("这几年一直没开展业务，还能续期吗")


def test_every_province_of_the_place_table_is_a_canonical_province():
    lexicon = read_lexicon(DEFAULT_LEXICON)
    places = yaml.safe_load(DEFAULT_PLACES.read_text(encoding="utf-8"))["province"]
    assert set(places) == set(lexicon["phrases"]["province"])
    names = [n for ns in places.values() for n in ns]
    assert len(names) == len(set(names))  # one province per name
    assert len(names) > 3000


def test_the_place_table_is_regenerated_from_the_administrative_divisions(tmp_path):
    """scripts/make_cities.py: full and short names, ambiguous names and common words left out."""
    from scripts import make_cities

    (tmp_path / "56_nations.csv").write_text("汉族\n朝鲜族\n藏族\n", encoding="utf-8")
    csv = tmp_path / "adcodes.csv"
    csv.write_text(
        "adcode,name,longitude,latitude\n"
        "320000000000,江苏省,0,0\n320500000000,苏州市,0,0\n320583000000,昆山市,0,0\n"
        "220000000000,吉林省,0,0\n222400000000,延边朝鲜族自治州,0,0\n"
        "310000000000,上海市,0,0\n310115000000,浦东新区,0,0\n"
        "440000000000,广东省,0,0\n440305000000,南山区,0,0\n230000000000,黑龙江省,0,0\n"
        "230404000000,南山区,0,0\n623000000000,甘南藏族自治州,0,0\n620000000000,甘肃省,0,0\n"
        "623001000000,合作市,0,0\n",
        encoding="utf-8",
    )
    table = make_cities.build(csv)
    assert set(table["江苏省"]) >= {"苏州市", "苏州", "昆山市", "昆山"}
    assert set(table["吉林省"]) == {"延边朝鲜族自治州", "延边"}
    assert set(table["上海市"]) == {"浦东新区", "浦东"}
    assert "南山区" not in {n for ns in table.values() for n in ns}  # in two provinces
    assert set(table["甘肃省"]) == {"甘南藏族自治州", "甘南", "合作市"}  # 合作 is a common word first
