"""Normalise a visitor's Chinese message before tokenisation.

Steps, in order: emoji dropped (a message of emoji only becomes one token), Unicode NFKC (full-width
letters, digits and punctuation to half-width), traditional to simplified Chinese (OpenCC), the domain
typo and homophone table (bot/lexicon/typos.yml), Chinese numerals in amounts and counts to digits
(一千万 → 1000万, 五百万元 → 500万, 一个亿 → 10000万), punctuation and whitespace folding, and filler
dropped (bot/lexicon/fillers.yml: 在吗, 请问一下, 哈哈哈, 啊啊啊 never decide what is asked). The
result starts with "/" only if the text did: Rasa
reads a leading "/" as an intent payload, and only texts that started with
one were screened (bot/plugins/channels/guard.py). ``Normalizer`` is built once per
component; ``normalize`` is pure.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import yaml

from bot.settings import PROJECT_ROOT

DEFAULT_TYPOS = PROJECT_ROOT / "bot" / "lexicon" / "typos.yml"
DEFAULT_FILLERS = PROJECT_ROOT / "bot" / "lexicon" / "fillers.yml"
DEFAULT_FIELD = PROJECT_ROOT / "bot" / "lexicon" / "field.yml"
DEFAULT_DICTIONARY = PROJECT_ROOT / "bot" / "dictionary"

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "贰": 2,
    "两": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_NUMERAL = "零〇一壹二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟"
# units and counters after which a number "matters": money, people, time, places, articles
_COUNTED = r"(?:万|亿|元|块|个月|个省|个城市|个员工|个工作日|个人|名|年|天|日|月|省|家|张|条|倍)"
_CHINESE_AMOUNT = re.compile(rf"(?<![{_NUMERAL}\d.])([{_NUMERAL}]+)(?={_COUNTED})")
# a number starts where digits start ((?<!\d)): tried inside a digit run, it rescans the run each time
_MIXED_AMOUNT = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*([十百千])(?=万|亿|元)")
# 500w, 1.5kw: how amounts are typed in chats (w = 万, kw = 千万)
_W_AMOUNT = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s?(k?)w(?![A-Za-z])", re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_WAN_YUAN = re.compile(r"(\d)\s*万(?:元|块钱|块)")
_GE_YI = re.compile(rf"(?<=[{_NUMERAL}\d])个(?=亿)")  # 一个亿 → 一亿
_YI = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*亿(?:元|块钱|块)?")
_REPEATED_PUNCT = re.compile(r"([!?,.~。，！？、…~])\1+")
_WIDE = re.compile(r"[^\x00-\x7f]")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\ufeff]")
# the guard on public channels turns an unoffered "/intent" into "／intent"; NFKC would turn it back
# into a payload that Rasa's RegexMessageHandler (after the pipeline) reads as an intent: drop it
_LEADING_WIDE_SLASHES = re.compile(r"^\s*／+")
# dropping "\u200b" or folding "／" can uncover a "/" the text did not start with: drop those too
_LEADING_SLASHES = re.compile(r"^[\s/]+")
_EMOJI_JOINERS = re.compile("[\u200d\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
# what may stand before a payload's "/" and vanish here: whitespace, slashes, characters deleted above
PAYLOAD_LEAD = re.compile(rf"^(?:[\s/／]|{_CONTROL.pattern}|{_EMOJI_JOINERS.pattern})+")
EMOJI_TOKEN = "emoji"
_EMOJI_MARK = "\ue000"  # a private-use character: where emoji were, until fold decides to drop them
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_CLAUSE = re.compile(r"([^,.!?;:~、，。！？；：…\s]+)([,.!?;:~、，。！？；：…\s]*)")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
# sentence punctuation inside a message (a dot only where it is not a decimal point): read as a comma
_INNER_STOPS = re.compile(r"[!?;。！？；…]+|(?<!\d)\.+|\.+(?!\d)")


def chinese_to_int(numeral: str) -> int | None:
    """Convert a Chinese numeral below 10,000 (一千, 十五, 三百零五, 二〇二三) to an int."""
    if all(ch in _DIGITS for ch in numeral):  # digit by digit: 二〇二三
        return int("".join(str(_DIGITS[ch]) for ch in numeral)) if len(numeral) > 1 else _DIGITS[numeral]
    total, digit = 0, None
    for ch in numeral:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


class Normalizer:
    """Normalise text with a typo table loaded once."""

    def __init__(
        self,
        typos_path: Path | str = DEFAULT_TYPOS,
        fillers_path: Path | str | None = DEFAULT_FILLERS,
        field_path: Path | str | None = DEFAULT_FIELD,
        dictionary_path: Path | str | None = DEFAULT_DICTIONARY,
        edges: bool = True,
    ) -> None:
        """``edges=False`` leaves what stands around a question (``Edges``) as it is."""
        import opencc  # imported here: loading its dictionaries is not free

        self._t2s = opencc.OpenCC("t2s")
        table = yaml.safe_load(Path(typos_path).read_text(encoding="utf-8")) or {}
        replacements = {str(k): str(v) for k, v in (table.get("replacements") or {}).items()}
        self._typos = replacements
        self._typo_pattern = (
            re.compile("|".join(re.escape(k) for k in sorted(replacements, key=len, reverse=True)))
            if replacements
            else None
        )
        fillers = yaml.safe_load(Path(fillers_path).read_text(encoding="utf-8")) or {} if fillers_path else {}
        self._fillers = Fillers(fillers)
        self._edges = Edges(fillers, field_words(field_path, dictionary_path) if edges else [], enabled=edges)

    def normalize(self, text: str) -> str:
        folded = self.fold(text)
        return folded if text.lstrip().startswith("/") else _LEADING_SLASHES.sub("", folded)

    def fold(self, text: str) -> str:
        """Apply every step but the leading-slash rule (the guard screens what this returns)."""
        payload = text.lstrip().startswith("/")
        text = _EMOJI_JOINERS.sub("", text)
        text = _CONTROL.sub("", text)
        text = _emoji_to_token(text, f" {_EMOJI_MARK} ")
        text = _LEADING_WIDE_SLASHES.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = self._t2s.convert(text)
        if self._typo_pattern:
            text = self._typo_pattern.sub(lambda m: self._typos[m.group(0)], text)
        text = self.numbers(text)
        text = _REPEATED_PUNCT.sub(r"\1", text)
        text = _SPACES.sub(_space_between_wide, text)
        text = _SPACES.sub(" ", text).strip()
        # emoji and filler go only where words remain, and never so as to uncover a "/" (bot/plugins/channels/guard.py)
        with_token = text.replace(_EMOJI_MARK, EMOJI_TOKEN)
        if payload:
            return with_token
        cleaned = _SPACES.sub(" ", text.replace(_EMOJI_MARK, " ")).strip()
        if not _CONTENT.search(cleaned):
            return with_token
        # thanks behind can hide trailing filler (「啥叫B24啊，谢谢」): edges, filler, then edges again
        cleaned = self._edges.strip(self._fillers.drop(self._edges.strip(cleaned)))
        return with_token if cleaned.startswith("/") and not with_token.startswith("/") else cleaned

    @staticmethod
    def numbers(text: str) -> str:
        """Write amounts and counts with digits: 一千万 → 1000万, 1千万 → 1000万, 五百万元 → 500万."""

        def chinese(match: re.Match) -> str:
            value = chinese_to_int(match.group(1))
            return match.group(1) if value is None else str(value)

        text = _W_AMOUNT.sub(lambda m: _scaled(m.group(1), 1000 if m.group(2) else 1) + "万", text)
        text = _MIXED_AMOUNT.sub(lambda m: _scaled(m.group(1), _UNITS[m.group(2)]), text)
        text = _CHINESE_AMOUNT.sub(chinese, text)
        text = _THOUSANDS.sub("", text)
        text = _WAN_YUAN.sub(r"\1万", text)
        text = _GE_YI.sub("", text)
        text = _CHINESE_AMOUNT.sub(chinese, text)  # 一亿 (from 一个亿)
        return _YI.sub(lambda m: _scaled(m.group(1), 10000) + "万", text)


class Fillers:
    """Drop filler (bot/lexicon/fillers.yml) unless nothing else is left.

    Words are found by a scan in one pass, never by a regular expression: an alternation of words that
    overlap (急 and 急急急) under a repetition backtracks exponentially on 「急急…急好」 (S1 in
    docs/security.md). Each position looks up at most one slice per word length, so the cost is linear in
    the text's length.
    """

    def __init__(self, table: dict) -> None:
        self.min_rest = int(table.get("min_rest", 4))
        self.greetings_min_rest = int(table.get("greetings_min_rest", self.min_rest))
        words = [str(w) for w in table.get("words") or []]
        greetings = [str(w) for w in table.get("greetings") or []]
        repeated = "".join(str(c) for c in table.get("repeated") or [])
        # one character then itself again: linear, a run is taken whole and a miss fails at once
        self._runs = re.compile(rf"([{re.escape(repeated)}])\1+") if repeated else None
        self._greeting = _Lexicon(greetings)
        # at the start never one Chinese character: 哈尔滨, 额外, 急诊 begin with one
        self._leading = _Lexicon([w for w in words if len(w) > 1])
        self._trailing = _Lexicon(words)

    def drop(self, text: str) -> str:
        """Return ``text`` without its filler, or ``text`` itself when too little would be left."""
        result = self._runs.sub("", text) if self._runs else text
        result = "".join(clause + tail for clause, tail in _CLAUSE.findall(result) if not self._trailing.spells(clause))
        result = self._trailing.drop_tail(self._leading.drop_head(result))
        rest = self._greeting.drop_head(result)
        if len(_CONTENT.findall(rest)) >= self.greetings_min_rest:
            result = self._leading.drop_head(rest)
        if result == text:
            return text
        result = _SPACES.sub(" ", result).lstrip(" ,.!?;:~、，。！？；：…").rstrip(" ,、，;；:：~")
        if len(_CONTENT.findall(result)) < self.min_rest:
            return text
        # keep the question mark: 「……能办吗?」 asks, the filler around it does not
        return result + ("?" if text.endswith("?") and not result.endswith("?") else "")


_SEPARATORS = frozenset(",.!?;:~、，。！？；：…")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WORD_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_AFTER_ASCII_WORD = _WORD_CHAR | frozenset("万亿元")  # 2333万 is an amount, not laughter


def _separator(char: str) -> bool:
    return char.isspace() or char in _SEPARATORS


class _Lexicon:
    """Filler words found at a position, longest first; Latin letters and digits only as whole words."""

    def __init__(self, items: list[str]) -> None:
        self._items = {item.translate(_ASCII_LOWER) for item in items}
        self._ascii = {item for item in self._items if _ASCII_WORD.fullmatch(item)}  # hi ≠ high, 2333 ≠ 2333万
        self._lengths = sorted({len(item) for item in self._items}, reverse=True)
        self._first = frozenset(item[0] for item in self._items)  # most positions start no word: one look-up

    def at(self, text: str, lowered: str, start: int) -> list[int]:
        """The ends of the words that start at ``start``, longest word first (ASCII case ignored)."""
        ends: list[int] = []
        if start >= len(text) or lowered[start] not in self._first:
            return ends
        for length in self._lengths:
            end = start + length
            word = lowered[start:end]
            if end > len(text) or word not in self._items:
                continue
            if word in self._ascii and (
                (start > 0 and text[start - 1] in _WORD_CHAR) or (end < len(text) and text[end] in _AFTER_ASCII_WORD)
            ):
                continue
            ends.append(end)
        return ends

    def spells(self, text: str) -> bool:
        """Whether ``text`` is nothing but words, one after another (在吗在吗, 急急急急)."""
        lowered = text.translate(_ASCII_LOWER)
        reached = [False] * (len(text) + 1)
        reached[0], furthest = bool(text), 0
        for start in range(len(text)):
            if start > furthest:  # no word ends here, so none can start here or after
                return False
            if reached[start]:
                for end in self.at(text, lowered, start):
                    reached[end] = True
                    furthest = max(furthest, end)
        return reached[len(text)]

    def drop_head(self, text: str) -> str:
        """``text`` without the words (and the separators after each) it starts with, longest word first."""
        lowered, position = text.translate(_ASCII_LOWER), 0
        while ends := self.at(text, lowered, position):
            position = ends[0]
            while position < len(text) and _separator(text[position]):
                position += 1
        return text[position:]

    def drop_tail(self, text: str) -> str:
        """``text`` without the longest tail made of words with separators around them."""
        lowered, size = text.translate(_ASCII_LOWER), len(text)
        # rest[i]: text[i:] is words and separators only (or nothing); tail: the same with a word at least
        rest = [False] * (size + 1)
        rest[size] = True
        start, tail, misses, longest = size, False, 0, max(self._lengths, default=0)
        for position in range(size - 1, -1, -1):
            word = any(rest[end] for end in self.at(text, lowered, position))
            separator = _separator(text[position])
            rest[position] = word or (separator and rest[position + 1])
            tail = word or (separator and tail)
            if tail:
                start = position
            misses = 0 if rest[position] else misses + 1
            if misses >= longest:  # no word reaches over this many positions: nothing before them is a tail
                break
        return text[:start]


def _space_between_wide(match: re.Match[str]) -> str:
    """Drop a run of whitespace beside a wide (Chinese) character; keep it between Latin words.

    One match per run: a lookahead after a whitespace run would be tried from each of its spaces (quadratic).
    """
    text, start, end = match.string, match.start(), match.end()
    beside_wide = (start > 0 and _WIDE.match(text, start - 1)) or (end < len(text) and _WIDE.match(text, end))
    return "" if beside_wide else match.group(0)


class Edges:
    """Drop what stands around a question and never decides what is asked.

    Punctuation at either end, and sentence punctuation inside folded to a comma (「？」 and 「。」 told the
    model nothing but were learnt as signs of an off-topic message); a greeting in front
    (fillers.yml ``greetings``) and thanks behind (``courtesies``: 「，谢谢」, 「辛苦了」) when a question
    remains: at least ``question_min_rest`` characters, or ``min_rest`` that ask (``question_words``:
    「多久能批下来，谢谢」) or name our field (a word of ``field``). A message that is only a greeting or
    thanks stays as it is. Every step is a scan of the text or a loop that shortens it: linear in its length.
    """

    ENDS = " ,.!?;:~、，。！？；：…"

    def __init__(self, table: dict, field: list[str], enabled: bool = True) -> None:
        self.enabled = enabled
        self.min_rest = int(table.get("min_rest", 4))
        self.question_rest = int(table.get("question_min_rest", table.get("greetings_min_rest", self.min_rest)))
        self._greetings = sorted({str(w).lower() for w in table.get("greetings") or []}, key=len, reverse=True)
        self._courtesies = sorted({str(w).lower() for w in table.get("courtesies") or []}, key=len, reverse=True)
        self._field = field
        self._asking = [str(w).lower() for w in table.get("question_words") or []]

    def strip(self, text: str) -> str:
        if not self.enabled:
            return text
        result = _INNER_STOPS.sub(",", text.strip(self.ENDS))
        for words, front in ((self._greetings, True), (self._courtesies, False)):
            rest = self._without(result, words, front)
            if rest != result and self._question_remains(rest):
                result = rest
        return _SPACES.sub(" ", result) if result else text

    def _without(self, text: str, words: list[str], front: bool) -> str:
        """``text`` without every one of ``words`` at its front (or end), however many follow each other.

        The words are found by moving an index, never by cutting the text and lowering it again at each
        word: 「哈罗」×500 then 「好」 cost time quadratic in its length that way.
        """
        lowered = text.lower()
        if len(lowered) != len(text):  # a letter whose lower case is longer (「İ」): keep the indices aligned
            lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
        start, end = 0, len(text)
        found = True
        while found and start < end:  # each pass moves an end inwards or stops
            found = False
            for word in words:
                if front and lowered.startswith(word, start, end):
                    after = start + len(word)
                    if _apart(word, text[after : after + 1]):
                        start, found = after, True
                        while start < end and text[start] in self.ENDS:
                            start += 1
                        break
                if not front and lowered.endswith(word, start, end):
                    before = end - len(word)
                    if _apart(word, text[before - 1 : before] if before > start else ""):
                        end, found = before, True
                        while end > start and text[end - 1] in self.ENDS:
                            end -= 1
                        break
        return text[start:end]

    def _question_remains(self, rest: str) -> bool:
        content = len(_CONTENT.findall(rest))
        if content >= self.question_rest:
            return True
        lowered = rest.lower()
        return content >= self.min_rest and (
            any(word in lowered for word in self._asking) or any(word in lowered for word in self._field)
        )


def _apart(word: str, neighbour: str) -> bool:
    """Whether ``word`` stands apart from the character beside it: 「hi」 is not the start of 「high」."""
    return not (word[-1:].isascii() and neighbour.isascii() and neighbour.isalnum() and neighbour != "")


@dataclass(frozen=True)
class FieldLexicon:
    """The lists of bot/lexicon/field.yml, lower-case: ``generic`` (of our field, but other licences use them
    too: 许可证, 罚款), ``words`` (ours, colloquial: 换证, 证到期), ``elsewhere`` (other fields' papers)."""

    generic: Tuple[str, ...] = ()
    words: Tuple[str, ...] = ()
    elsewhere: Tuple[str, ...] = ()


def field_lexicon(field: Optional[Path | str]) -> FieldLexicon:
    """Read bot/lexicon/field.yml once (an empty lexicon when there is none)."""
    if not field or not Path(field).is_file():
        return FieldLexicon()
    table = yaml.safe_load(Path(field).read_text(encoding="utf-8")) or {}

    def listed(key: str) -> Tuple[str, ...]:
        return tuple(sorted({str(w).lower() for w in table.get(key) or [] if w}))

    return FieldLexicon(listed("generic"), listed("words"), listed("elsewhere"))


def field_words(
    field: Optional[Path | str], dictionary: Optional[Path | str], lexicon: Optional[FieldLexicon] = None
) -> list[str]:
    """The words of our field: bot/lexicon/field.yml (``words`` and ``generic``; ``lexicon`` when already read)
    and every word of the jieba dictionary files."""
    lexicon = lexicon or field_lexicon(field)
    words: list[str] = [*lexicon.generic, *lexicon.words]
    if dictionary and Path(dictionary).is_dir():
        for file in sorted(Path(dictionary).iterdir()):
            if file.is_file():
                words += [line.split()[0] for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted({w.lower() for w in words if w})


def _emoji_to_token(text: str, token: str) -> str:
    """Replace each run of emoji/pictographs with ``token``: 😂😂 and 🙏 look alike to the model."""
    out, in_run = [], False
    for char in text:
        if unicodedata.category(char) == "So":
            if not in_run:
                out.append(token)
            in_run = True
        else:
            out.append(char)
            in_run = False
    return "".join(out)


def _scaled(number: str, unit: int) -> str:
    value = float(number) * unit
    return str(int(value)) if value.is_integer() else str(value)


def has_word(text: str) -> bool:
    """Whether ``text`` has a letter of any script or a symbol such as an emoji: digits and punctuation
    alone (「2」, 「？？」) are no word."""
    return any(unicodedata.category(ch)[0] in "LS" for ch in text)
