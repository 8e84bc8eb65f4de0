"""Each normalisation rule, with a message that only that rule fixes."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench import normalize as normalize_bench
from bot.plugins.nlu.normalize import DEFAULT_TYPOS, Normalizer, chinese_to_int
from tools import evaluate

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


def test_traditional_characters_become_simplified(normalizer):
    assert normalizer.normalize("呼叫中心許可證怎麼辦理") == "呼叫中心许可证怎么办理"
    assert normalizer.normalize("註冊資本") == "注册资本"


def test_full_width_letters_digits_and_punctuation_become_half_width(normalizer):
    assert normalizer.normalize("ＩＣＰ和ＥＤＩ") == "ICP和EDI"
    assert normalizer.normalize("９５号码？") == "95号码"  # the question mark at the end is dropped too


def test_repeated_punctuation_is_folded(normalizer):
    assert normalizer.normalize("全网怎么办理？？？！！还要什么") == "全网怎么办理,还要什么"
    assert normalizer.normalize("怎么办理？？？！！") == "怎么办理"


def test_whitespace_between_chinese_is_removed_and_runs_collapsed(normalizer):
    assert normalizer.normalize("  呼 叫  中心\t许可证  ") == "呼叫中心许可证"
    assert normalizer.normalize("call   center 许可证") == "call center许可证"


def test_control_and_zero_width_characters_are_dropped(normalizer):
    assert normalizer.normalize("地\u200b网\x07证") == "地网证"


@pytest.mark.parametrize(
    "raw, expected",
    [
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
    ],
)
def test_amounts_and_counts_are_written_with_digits(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize("text", ["办一个", "一起办理", "第一步做什么", "统一社会信用代码"])
def test_numerals_that_are_not_amounts_stay(normalizer, text):
    assert normalizer.normalize(text) == text


def test_every_typo_in_the_table_is_fixed(normalizer):
    table = yaml.safe_load(DEFAULT_TYPOS.read_text(encoding="utf-8"))["replacements"]
    for wrong, right in table.items():
        assert normalizer.normalize(f"我们{wrong}怎么办") == f"我们{right}怎么办", wrong


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("许可正", "许可证"),
        ("呼教中心", "呼叫中心"),
        ("地往", "地网"),
        ("全往", "全网"),
    ],
)
def test_issue_examples_of_typos(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


def test_typo_table_is_data_and_longest_entry_wins(tmp_path):
    table = tmp_path / "typos.yml"
    table.write_text("replacements:\n  中心: 中信\n  呼教中心: 呼叫中心\n", encoding="utf-8")
    assert Normalizer(table).normalize("呼教中心") == "呼叫中心"


def test_traditional_then_typo_then_numbers_in_one_message(normalizer):
    assert normalizer.normalize("註冊資本五百萬元能辦全往嗎？？") == "注册资本500万能办全网吗"


@pytest.mark.parametrize(
    "numeral, value",
    [
        ("十", 10),
        ("十五", 15),
        ("一百", 100),
        ("一千零五", 1005),
        ("二〇二三", 2023),
        ("两", 2),
        ("九千九百九十九", 9999),
    ],
)
def test_chinese_numerals(numeral, value):
    assert chinese_to_int(numeral) == value


@pytest.mark.parametrize("raw, expected", [("😂😂😂", "emoji"), ("🙏", "emoji"), ("❤️", "emoji"), ("??😀", "?emoji")])
def test_a_message_of_emoji_only_becomes_one_token(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("好的👌", "好的"),
        ("👨‍👩‍👧你好", "你好"),
        ("急!!! 材料到底要哪些😭", "材料到底要哪些"),
        ("🙏🙏 拜托问一下，地网要多少注册资本", "地网要多少注册资本"),
    ],
)
def test_emoji_beside_words_never_decide_the_intent(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("在吗在吗，年报什么时候交", "年报什么时候交"),
        ("请问一下下，全网要多少注册资本？", "全网要多少注册资本"),
        ("哈哈哈 没证做外包会怎样", "没证做外包会怎样"),
        ("年报怎么报啊啊啊啊", "年报怎么报"),
        ("lol 自己公司的热线也要办证??", "自己公司的热线也要办证"),
        ("你好在吗我们是外资公司能办吗", "我们是外资公司能办吗"),
        ("地网证多少钱呀 hhh", "地网证多少钱"),
    ],
)
def test_filler_is_dropped(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "你好",
        "在吗",
        "哈哈哈哈",
        "谢谢啊",
        "那地网呢",
        "是啊",
        # one character at the start is never taken for filler
        "哈尔滨的公司办地网",
        "额外还要什么材料",
        "急诊热线要办证吗",
        # Latin filler only as a whole word
        "highway客服外包",
        "hiring话务员",
    ],
)
def test_filler_alone_or_inside_words_stays(normalizer, text):
    assert normalizer.normalize(text) == text


def test_a_greeting_goes_only_before_a_real_question(normalizer):
    assert normalizer.normalize("你好，我们是外资公司能申请全网吗") == "我们是外资公司能申请全网吗"
    assert normalizer.normalize("hello 您好，想咨询点事情") == "hello您好,想咨询点事情"  # a greeting, kept


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("注册资本一个亿", "注册资本10000万"),
        ("两个亿", "20000万"),
        ("1.5亿元", "15000万"),
        ("注册资本1亿", "注册资本10000万"),
    ],
)
def test_amounts_in_yi_are_written_in_wan(normalizer, raw, expected):
    assert normalizer.normalize(raw) == expected


@pytest.mark.parametrize("raw", ["你好/restart", "在吗 /ask_fees@0.1", "😂/restart", "哈哈哈/restart"])
def test_f03_dropping_filler_or_emoji_never_uncovers_a_slash(normalizer, raw):
    """F3: what was in front of a "/" may be filler or emoji: the fold keeps it rather than make a payload."""
    assert not normalizer.fold(raw).startswith("/")
    assert not normalizer.normalize(raw).startswith("/")


def test_a_payload_the_guard_defused_stays_text(normalizer):
    # bot.plugins.channels.guard turns "/restart" into "／restart"; NFKC alone would make it "/restart" again
    assert normalizer.normalize("／restart") == "restart"
    assert normalizer.normalize("／EXTERNAL_handoff_ended") == "EXTERNAL_handoff_ended"
    assert normalizer.normalize("/ask_capital") == "/ask_capital"  # a button's payload passes untouched
    assert normalizer.normalize("全网／地网") == "全网/地网"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("\u200b/restart", "restart"),
        ("\ufeff/restart", "restart"),
        ("\x01/EXTERNAL_handoff_ended", "EXTERNAL_handoff_ended"),
        ("//restart", "//restart"),
        ("／/restart", "restart"),
        ("／\u200b/restart", "restart"),
        ("\u200d\ufe0f/ask_fees@0.1", "ask_fees@0.1"),
    ],
)
def test_f03_no_leading_slash_appears_that_the_text_did_not_start_with(normalizer, raw, expected):
    """F3: dropping invisibles or folding ／ never uncovers a payload for Rasa's RegexMessageHandler."""
    assert normalizer.normalize(raw) == expected


@given(
    text=st.one_of(
        st.text(max_size=100), st.text(alphabet="/／\u200b\u200d\x01\ufeff\ufe0f \u3000a😂", max_size=12)
    ).filter(lambda t: not t.lstrip().startswith("/"))
)
@hsettings(max_examples=400, deadline=None)
def test_f03_only_a_text_starting_with_a_slash_normalises_to_one(normalizer, text):
    """F3: the normaliser keeps a leading "/" only where the text (already screened) had one."""
    assert not normalizer.normalize(text).startswith("/")


# issue #21: what a visitor adds around a question never decides what the NLU reads (make eval's additions,
# and two more)
VARIATIONS = {
    **evaluate.VARIATIONS,
    "。。。 at the end": lambda m: m + "。。。",
    "thanks at the end": lambda m: m + " thanks!",
}


def questions_of_the_evaluation_sets() -> list[str]:
    """Every question of the held-out sets (evaluate.questions) and of the realistic set."""
    texts = [
        text for path in evaluate.INTENT_SETS.values() for text, _ in evaluate.questions(evaluate.read_examples(path))
    ]
    return texts + [case.turns[-1] for case in evaluate.load_cases() if case.facts or case.eligibility]


@pytest.fixture(scope="module")
def read_bare(normalizer) -> dict[str, str]:
    """Each question of the evaluation sets and what the normaliser reads of it: read once for every variation."""
    return {text: normalizer.normalize(text) for text in questions_of_the_evaluation_sets()}


@pytest.mark.parametrize("variation", sorted(VARIATIONS))
def test_punctuation_greetings_thanks_and_emoji_around_a_question_never_change_what_is_read(
    normalizer, read_bare, variation
):
    add = VARIATIONS[variation]
    read = {text: normalizer.normalize(add(text)) for text in read_bare}
    assert [(text, read[text]) for text in read_bare if read[text] != read_bare[text]] == []


@pytest.mark.parametrize(
    "text, read",
    [
        ("谢谢！", "谢谢"),
        ("你好？", "你好"),
        ("好的谢谢", "好的谢谢"),
        ("明白了，谢谢", "明白了,谢谢"),
        ("你好，想咨询一下", "你好,想咨询一下"),
        ("谢谢，再见", "谢谢,再见"),
    ],
)
def test_a_message_that_is_only_courtesy_stays_as_it_is(normalizer, text, read):
    assert normalizer.normalize(text) == read


def test_amounts_typed_with_w_are_read_as_wan(normalizer):
    assert normalizer.normalize("注册资本500w能办全网吗") == "注册资本500万能办全网吗"
    assert normalizer.normalize("1.5kw可以吗") == "1500万可以吗"
    assert normalizer.normalize("win10 电脑") == "win10电脑"


@pytest.mark.parametrize(
    "hostile",
    [
        "你好" * 500,
        "谢谢" * 500,
        "你好，" * 330,
        "，谢谢" * 330,
        "？" * 1000,
        "吗" * 999 + "谢",
        "你好" * 250 + "呼叫中心" + "谢谢" * 248,
        "1." * 500,
        "500" + "w" * 997,
    ],
)
def test_the_edges_cost_time_linear_in_the_length(normalizer, hostile):
    """A message of the channel's maximum length (1,000 characters) built to make the edge rules loop."""
    import time

    normalizer.normalize(hostile[:10])  # warm
    started = time.perf_counter()
    normalizer.normalize(hostile)
    assert time.perf_counter() - started < 0.5, hostile[:20]


# ---------- S1: the normaliser's cost is linear in the message's length, whatever the message


@contextmanager
def within(limit: float) -> Iterator[None]:
    """Fail the test once ``limit`` seconds have passed: a backtracking pattern would take hours."""

    def stop(signum, frame):
        pytest.fail(f"still running after {limit} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "text",
    ["急" * 41 + "好", "急" * 999 + "好", "在吗" * 499 + "好", "急，" * 499 + "好"],
    ids=["review-41", "one-999", "two-499", "separated-499"],
)
def test_s01_one_filler_repeated_then_another_word_is_folded_at_once(normalizer, text):
    """S1: 「急」×41 then 「好」 took 6.8 s (×1.45 per character); at 1,000 characters it now takes milliseconds."""
    with within(2.0):
        started = time.perf_counter()
        normalizer.fold(text)
        assert time.perf_counter() - started < 0.25


def test_s01_the_cost_of_the_worst_input_grows_linearly(normalizer):
    """S1: the worst message the benchmark finds costs about four times as much at four times the length."""
    with within(30.0):
        unit, end = normalize_bench.worst(normalizer, 1000)
        quarter = normalize_bench.seconds(normalizer, normalize_bench.fill(unit, end, 250), repeat=7)
        whole = normalize_bench.seconds(normalizer, normalize_bench.fill(unit, end, 1000), repeat=7)
    assert whole < 0.05, (unit, end)
    assert whole < 8 * quarter + 0.002, (unit, end, quarter, whole)  # linear: 4×; quadratic: 16×


def test_s01_training_and_held_out_examples_normalise_as_before():
    """S1: the linear scan drops the same filler as the regular expressions did.

    tests/fixtures/normalized_examples.json was recorded with the regex normaliser (commit aef04ec) on every
    example of data/nlu and data/eval that has filler, digits or spaces, the inputs the rewritten steps see;
    the edges around a question (issue #21, tested above) came later and are left out here.
    """
    normalizer = Normalizer(edges=False)
    expected = json.loads((FIXTURES / "normalized_examples.json").read_text(encoding="utf-8"))
    changed = {text: (was, normalizer.normalize(text)) for text, was in expected.items()}
    assert {text: pair for text, pair in changed.items() if pair[0] != pair[1]} == {}
    assert len(expected) > 300


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("请问LOL", "请问LOL"),  # too little left: kept whole
        ("全网要多少注册资本 LOL", "全网要多少注册资本"),
        ("全网要多少注册资本 lol2333万", "全网要多少注册资本lol2333万"),  # 2333万 is an amount
        ("急急急急急，全网要多少注册资本", "全网要多少注册资本"),
        ("打扰一下哈，在吗在吗，全网要多少注册资本啊急", "全网要多少注册资本"),
        ("全网要多少注册资本12345678901234567890", "全网要多少注册资本12345678901234567890"),
        ("注册资本 1 2 3 万", "注册资本1 2 3万"),
    ],
)
def test_s01_the_scan_keeps_the_rules_of_the_patterns_it_replaces(normalizer, raw, expected):
    """S1: what the regular expressions gave for these (checked against aef04ec), the scan gives."""
    assert normalizer.normalize(raw) == expected
