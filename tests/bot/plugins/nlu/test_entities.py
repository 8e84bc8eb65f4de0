"""Entities from the spaCy EntityRuler built from bot/lexicon/entities.yml."""
from __future__ import annotations

import re

import pytest

from bot.plugins.nlu.entities import DEFAULT_LEXICON, build_nlp, entities_in, load_jieba_dictionary, read_lexicon
from bot.plugins.nlu.normalize import Normalizer
from bot.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def extract():
    load_jieba_dictionary(PROJECT_ROOT / "bot" / "dictionary")
    lexicon = read_lexicon(DEFAULT_LEXICON)
    normalizer = Normalizer()
    nlp = build_nlp(lexicon, normalizer.normalize)
    regexes = {k: re.compile(v) for k, v in lexicon["regex"].items()}

    def run(text):
        return {(e["entity"], e["value"]) for e in entities_in(normalizer.normalize(text), nlp, regexes)}
    return run


def test_lexicon_has_all_31_provinces():
    assert len(read_lexicon(DEFAULT_LEXICON)["phrases"]["province"]) == 31


@pytest.mark.parametrize("text, expected", [
    ("我在广东办地网找谁", {("province", "广东省"), ("licence_scope", "地网")}),
    ("注册资本500万能办全网吗", {("capital", 500), ("licence_scope", "全网")}),
    ("注冊資本一千萬元夠不夠", {("capital", 1000)}),
    ("那省内的呢", {("licence_scope", "地网")}),
    ("我们想跨省经营", {("licence_scope", "全网")}),
    ("我们是外商独资，在沪做云客服", {("company_type", "外资"), ("province", "上海市"),
                                   ("business_kind", "云呼叫中心")}),
    ("申请96开头的号码", {("number_type", "96号码")}),
    ("个体工商户能办吗", {("company_type", "个体户")}),
    ("只在一个省", {("licence_scope", "地网")}),
    ("广西的地网", {("province", "广西壮族自治区"), ("licence_scope", "地网")}),
])
def test_entities_with_canonical_values(extract, text, expected):
    assert extract(text) == expected


def test_short_province_name_only_matches_as_its_own_word(extract):
    assert ("province", "北京市") not in extract("京东的客服外包要证吗")
