"""S1: no input makes a regular expression slow, anywhere.

Every pattern the project compiles is collected (module-level patterns of bot/, web/ and actions/, literal
patterns passed to ``re.*`` in their code, and the patterns built from lexicons: the normaliser's typo table
and filler words, the entity rules) and run against adversarial inputs of the channel's maximum length:
each lexicon word repeated and then ended by a character that breaks the match, the pattern's own characters
repeated, digit and space runs, nested punctuation. Each run must stay within a small budget, the same for
every pattern; a pattern that backtracks exponentially would take hours at this length (an alarm stops it).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import signal
import time

import pytest
import yaml

from bot import settings
from bot.plugins.nlu.entities import DEFAULT_LEXICON, read_lexicon
from bot.plugins.nlu.normalize import DEFAULT_FILLERS, DEFAULT_TYPOS, Normalizer
from bot.settings import PROJECT_ROOT

PACKAGES = ("bot", "web", "actions")
MAX_CHARS = settings.load({}).max_message_chars
BUDGET = 0.02  # seconds per pattern and input: a linear one needs well under a millisecond, a quadratic one 25 ms+
ALARM = 2.0  # seconds: a pattern still running then is reported instead of stalling the run
# characters that end a match: a non-filler Chinese character, letters, digits, units, punctuation, space, newline
ENDERS = ["好", "x", "1", "万", "!", "，", " ", "\n", "}", "/", "@", "{"]
WORD_ENDERS = ["好", "x", "1", " "]  # after each lexicon word: fewer, there are hundreds of words
NESTED = ["{", "}", "{}", "(", "（）", "[", "「」", "、", "，", ".", "/", "／", "@", "\\", '"']
NESTED += ["{{}}", "{[(", "1.", "1,"]


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = PROJECT_ROOT / package
        names.append(package)
        for info in pkgutil.walk_packages([str(root)], prefix=f"{package}."):
            if ".migrations" not in info.name:
                names.append(info.name)
    return names


def _module_patterns() -> dict[str, re.Pattern]:
    found = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found.setdefault(f"{name}.{attribute}", value)
    return found


def _flags(node: ast.expr) -> int:
    """The value of a ``re.X | re.Y`` flags argument; 0 for anything else."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
        return int(getattr(re, node.attr, 0))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    return 0


def _literal_patterns() -> dict[str, re.Pattern]:
    """Literal patterns handed to re.compile/sub/search/… inside functions (compiled when called)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    continue
                flags = next((_flags(k.value) for k in node.keywords if k.arg == "flags"), 0)
                if node.func.attr == "compile" and len(node.args) > 1:
                    flags = _flags(node.args[1])
                where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
                found[where] = re.compile(node.args[0].value, flags)
    return found


def _object_patterns(obj: object, name: str, seen: set[int] | None = None) -> dict[str, re.Pattern]:
    """Patterns held by ``obj`` and the objects it holds (Normalizer → Fillers → …)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return {}
    seen.add(id(obj))
    found = {}
    values = obj.items() if isinstance(obj, dict) else getattr(obj, "__dict__", {}).items()
    for key, value in values:
        if isinstance(value, re.Pattern):
            found[f"{name}.{key}"] = value
        elif isinstance(value, dict) or getattr(value, "__module__", "").startswith(PACKAGES):
            found.update(_object_patterns(value, f"{name}.{key}", seen))
    return found


def _lexicon_patterns() -> dict[str, re.Pattern]:
    found = _object_patterns(Normalizer(), "Normalizer")
    for entity, pattern in (read_lexicon(DEFAULT_LEXICON).get("regex") or {}).items():
        found[f"entities.yml regex {entity}"] = re.compile(pattern)  # as LexiconEntityExtractor compiles it
    return found


def all_patterns() -> dict[str, re.Pattern]:
    """Each distinct pattern once, under the first name found for it."""
    found: dict[str, re.Pattern] = {}
    seen = set()
    for name, pattern in {**_module_patterns(), **_literal_patterns(), **_lexicon_patterns()}.items():
        if (pattern.pattern, pattern.flags) not in seen:
            seen.add((pattern.pattern, pattern.flags))
            found[name] = pattern
    return found


def _words() -> list[str]:
    """Every lexicon word a pattern is built from: fillers, greetings, typos, entity phrases."""
    fillers = yaml.safe_load(DEFAULT_FILLERS.read_text(encoding="utf-8")) or {}
    typos = (yaml.safe_load(DEFAULT_TYPOS.read_text(encoding="utf-8")) or {}).get("replacements") or {}
    words = {str(w) for key in ("words", "greetings", "repeated") for w in fillers.get(key) or []}
    words |= {str(w) for w in typos}
    for values in (read_lexicon(DEFAULT_LEXICON).get("phrases") or {}).values():
        for canonical, phrases in values.items():
            words |= {str(canonical), *(str(p) for p in phrases or [])}
    return sorted(words)


def _fill(unit: str, end: str = "") -> str:
    """``unit`` repeated up to the channel's maximum length, then ``end``."""
    return (unit * (MAX_CHARS // max(len(unit), 1) + 1))[: MAX_CHARS - len(end)] + end


def adversarial(pattern: re.Pattern) -> list[str]:
    """Inputs of the maximum length that make a backtracking pattern try hardest."""
    units = {c for c in pattern.pattern if not c.isspace()} | {"a", "啊", "1", " "} | set(NESTED)
    units |= {f"{w}{s}" for w in ("急", "在吗", "哈", "hi", "1", "a") for s in (" ", "，", "、", "!", "~", ".")}
    units |= {"1 ", " 1", "a ", "1.1", "1万", "一", "一十", "1-", "86", "+86 1", "138 ", "0", "0-"}
    inputs = {_fill(unit, end) for unit in units for end in ENDERS}
    inputs |= {_fill(word, end) for word in WORDS for end in WORD_ENDERS}
    inputs |= {"a" + " " * (MAX_CHARS - 2) + "a", "/" + _fill("{", "x")[1:], "/a" + _fill("{}", "x")[2:]}
    return sorted(inputs)


class Slow(Exception):
    pass


def _alarm(signum, frame):
    raise Slow


def cost(pattern: re.Pattern, text: str) -> float:
    """Seconds the slowest way the project uses a pattern takes: every match in the text, or the whole text.

    CPU seconds of this thread: what the pattern costs, however many other processes (a second test process,
    a training) take turns on the cores meanwhile; the alarm still counts wall time."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, ALARM)
    start = time.thread_time()
    try:
        for _ in pattern.finditer(text):
            pass
        pattern.fullmatch(text)
        pattern.sub("", text)
    except Slow:
        return float("inf")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return time.thread_time() - start


PATTERNS = all_patterns()
WORDS = _words()


def test_the_collection_finds_the_patterns_the_review_names():
    """The normaliser's filler patterns, the guard's payload pattern, WeChat's and the entity rules are all here."""
    names = " ".join(PATTERNS)
    for expected in ("Normalizer._fillers", "guard._PAYLOAD", "wechat.NUMBER", "entities.yml regex capital"):
        assert expected in names
    assert len(PATTERNS) >= 40


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_s01_no_input_of_the_maximum_length_makes_a_pattern_slow(name):
    pattern = PATTERNS[name]
    slow = []
    for text in adversarial(pattern):
        # the best of two runs: a loaded machine delays one, a slow pattern is slow every time
        seconds = cost(pattern, text)
        if BUDGET < seconds < ALARM:
            seconds = min(seconds, cost(pattern, text))
        if seconds > BUDGET:
            slow.append((round(seconds, 3), text[:12] + "…" + text[-3:]))
            if len(slow) == 3:  # enough to show; each may have taken the whole alarm
                break
    assert not slow, f"{name} ({pattern.pattern[:80]!r}) is slow on {sorted(slow, reverse=True)[:3]}"


def test_s01_the_budget_catches_a_pattern_that_backtracks():
    """The test itself: a nested quantifier like today's filler clause pattern is caught, not waited for."""
    nested = re.compile(r"^(?:急急急|急)+$")
    assert any(cost(nested, text) > BUDGET for text in adversarial(nested))  # stops at the first slow input
