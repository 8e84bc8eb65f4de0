"""Which variant of a fact's answer a visitor gets (bot/store/facts.py ``Fact.answer_for``)."""

from __future__ import annotations

import pytest

from bot.store import facts

PROVINCE_ANY = {"when": {"province": "*"}, "answer": "在{province}办地网"}


NATIONAL = {"when": {"licence_scope": "全网"}, "answer": "全网"}


@pytest.mark.parametrize(
    "variants",
    [
        [PROVINCE_ANY, NATIONAL],
        [NATIONAL, PROVINCE_ANY],
        [{"when": {"province": "上海市"}, "answer": "在上海办地网"}, NATIONAL],
    ],
)
def test_a_tie_between_variants_goes_to_what_the_visitor_asks_for_not_where_they_are(variants):
    """Audit §0.3: 「我们在上海，想办全网，流程怎么走」 got 「在上海市办地网：……」."""
    fact = facts.Fact(answer="一般答案", variants=variants)
    assert fact.answer_for({"province": "上海市", "licence_scope": "全网"}) == "全网"
    assert fact.answer_for({"province": "上海市"}).startswith("在上海")
    assert fact.answer_for({}) == "一般答案"


def test_more_conditions_and_named_values_are_more_specific():
    fact = facts.Fact(
        answer="一般",
        variants=[
            {"when": {"licence_scope": "全网", "province": "*"}, "answer": "全网，公司在{province}"},
            {"when": {"licence_scope": "*"}, "answer": "任一范围"},
            {"when": {"licence_scope": "全网"}, "answer": "全网"},
        ],
    )
    assert fact.answer_for({"licence_scope": "全网", "province": "广东省"}) == "全网，公司在广东省"
    assert fact.answer_for({"licence_scope": "全网"}) == "全网"
    assert fact.answer_for({"licence_scope": "地网"}) == "任一范围"
