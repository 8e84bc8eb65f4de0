"""Each normalisation rule, with a message that only that rule fixes."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings as hsettings, strategies as st

from bot.plugins.nlu.normalize import DEFAULT_TYPOS, Normalizer, chinese_to_int


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


def test_traditional_characters_become_simplified(normalizer):
    assert normalizer.normalize("呼叫中心許可證怎麼辦理") == "呼叫中心许可证怎么办理"
    assert normalizer.normalize("註冊資本") == "注册资本"


def test_full_width_letters_digits_and_punctuation_become_half_width(normalizer):
    assert normalizer.normalize("ＩＣＰ和ＥＤＩ") == "ICP和EDI"
    assert normalizer.normalize("９５号码？") == "95号码?"


def test_repeated_punctuation_is_folded(normalizer):
    assert normalizer.normalize("怎么办理？？？！！") == "怎么办理?!"


def test_whitespace_between_chinese_is_removed_and_runs_collapsed(normalizer):
    assert normalizer.normalize("  呼 叫  中心\t许可证  ") == "呼叫中心许可证"
    assert normalizer.normalize("call   center 许可证") == "call center许可证"


def test_control_and_zero_width_characters_are_dropped(normalizer):
    assert normalizer.normalize("地\u200b网\x07证") == "地网证"


@pytest.mark.parametrize("raw, expected", [
    ("一千万够吗", "1000万够吗"),
    ("五百万元能办吗", "500万能办吗"),
    ("两千万", "2000万"),
    ("三百零五万", "305万"),
    ("1千万", "1000万"),
    ("1.5千万", "1500万"),
    ("1,000万元", "1000万"),
    ("100万元", "100万"),
    ("要交三个月社保", "要交3个月社保"),
    ("覆盖六个省十五个城市", "覆盖6个省15个城市"),
    ("电信条例第六十九条", "电信条例第69条"),
])
def test_amounts_and_counts_are_written_with_digits(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize("text", ["办一个", "一起办理", "第一步做什么", "统一社会信用代码"])
def test_numerals_that_are_not_amounts_stay(normalizer, text):
    assert normalizer.normalize(text) == text


def test_every_typo_in_the_table_is_fixed(normalizer):
    table = yaml.safe_load(DEFAULT_TYPOS.read_text(encoding="utf-8"))["replacements"]
    for wrong, right in table.items():
        assert normalizer.normalize(f"请问{wrong}怎么办") == f"请问{right}怎么办", wrong


@pytest.mark.parametrize("raw, expected", [
    ("许可正", "许可证"), ("呼教中心", "呼叫中心"), ("地往", "地网"), ("全往", "全网"),
])
def test_issue_examples_of_typos(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


def test_typo_table_is_data_and_longest_entry_wins(tmp_path):
    table = tmp_path / "typos.yml"
    table.write_text("replacements:\n  中心: 中信\n  呼教中心: 呼叫中心\n", encoding="utf-8")
    assert Normalizer(table).normalize("呼教中心") == "呼叫中心"


def test_traditional_then_typo_then_numbers_in_one_message(normalizer):
    assert normalizer.normalize("註冊資本五百萬元能辦全往嗎？？") == "注册资本500万能办全网吗?"


@pytest.mark.parametrize("numeral, value", [("十", 10), ("十五", 15), ("一百", 100), ("一千零五", 1005),
                                            ("二〇二三", 2023), ("两", 2), ("九千九百九十九", 9999)])
def test_chinese_numerals(numeral, value):
    assert chinese_to_int(numeral) == value


@pytest.mark.parametrize("raw, expected", [("😂😂😂", "emoji"), ("🙏", "emoji"), ("❤️", "emoji"),
                                           ("好的👌", "好的emoji"), ("👨‍👩‍👧你好", "emoji你好")])
def test_emoji_runs_become_one_token(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


def test_a_payload_the_guard_defused_stays_text(normalizer):
    # bot.plugins.channels.guard turns "/restart" into "／restart"; NFKC alone would make it "/restart" again
    assert normalizer.normalize("／restart") == "restart"
    assert normalizer.normalize("／EXTERNAL_handoff_ended") == "EXTERNAL_handoff_ended"
    assert normalizer.normalize("/ask_capital") == "/ask_capital"  # a button's payload passes untouched
    assert normalizer.normalize("全网／地网") == "全网/地网"


@pytest.mark.parametrize("raw, expected", [
    ("\u200b/restart", "restart"), ("\ufeff/restart", "restart"),
    ("\x01/EXTERNAL_handoff_ended", "EXTERNAL_handoff_ended"), ("//restart", "//restart"),
    ("／/restart", "restart"), ("／\u200b/restart", "restart"), ("\u200d\ufe0f/ask_fees@0.1", "ask_fees@0.1"),
])
def test_f03_no_leading_slash_appears_that_the_text_did_not_start_with(normalizer, raw, expected):
    """F3: dropping invisibles or folding ／ never uncovers a payload for Rasa's RegexMessageHandler."""
    assert normalizer.normalize(raw) == expected


@given(text=st.one_of(st.text(max_size=100), st.text(alphabet="/／\u200b\u200d\x01\ufeff\ufe0f \u3000a😂", max_size=12))
       .filter(lambda t: not t.lstrip().startswith("/")))
@hsettings(max_examples=400, deadline=None)
def test_f03_only_a_text_starting_with_a_slash_normalises_to_one(normalizer, text):
    """F3: the normaliser keeps a leading "/" only where the text (already screened) had one."""
    assert not normalizer.normalize(text).startswith("/")
