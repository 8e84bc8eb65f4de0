"""Capital thresholds come from the facts database and decide the verdict."""

from actions import eligibility_rules as eligibility
from bot.store import facts

DATA = {"capital_min_wan": {"local": 100, "national": 1000}}


def test_capital_for_national_licence():
    assert not eligibility.capital_verdict(500, "全网", DATA).enough
    assert eligibility.capital_verdict(500, "全网", DATA).local_only
    assert eligibility.capital_verdict(1000, "全网", DATA).enough


def test_capital_for_local_licence():
    assert eligibility.capital_verdict(100, "地网", DATA).enough
    assert not eligibility.capital_verdict(50, "地网", DATA).enough


def test_thresholds_are_read_from_the_fact(session):
    fact = facts.fact_for_intent("ask_capital", session=session)
    assert eligibility.capital_thresholds(fact.data) == (100.0, 1000.0)
    fact.data = {"capital_min_wan": {"local": 200, "national": 3000}}
    assert not eligibility.capital_verdict(1000, "全网", fact.data).enough
