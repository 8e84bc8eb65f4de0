"""A realistic-set case and a fact answer, built in one line for the evaluation's tests."""

from __future__ import annotations

from tools.evaluate.cases import Case
from tools.evaluate.judge import Outcome


def make_case(**expected) -> Case:
    """A one-message case (``cause`` plain unless given) expecting ``expected``."""
    turns = expected.pop("turns", ("…",))
    return Case(id="c", cause=expected.pop("cause", "plain"), turns=tuple(turns), **expected)


def fact_answer(key: str, answer: str, *more: str) -> Outcome:
    """What the visitor saw when the fact ``key`` answered with ``answer`` (and ``more`` messages after it)."""
    return Outcome("fact", key, answer, texts=[answer, *more])
