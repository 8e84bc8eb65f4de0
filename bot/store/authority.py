"""Who approves, where to file and which extra materials apply: one rule for every answer.

The rule is data: the ``approval`` block of the fact ``licence.types`` (data/facts/licence.yml),
with that fact's sources and confidence. Answers never name an approving authority themselves;
they name it through placeholders this module fills for what the visitor told (licence scope,
province, company type):

- ``{national_authority}``: who approves a cross-province licence (全网) for this visitor;
- ``{local_authority}``: who approves a one-province licence (地网) for this visitor — the named
  province's bureau, the bureau of the province the company is in, or, for a foreign-invested
  company (港澳台 included), the ministry (外商投资电信企业管理规定 第10条、第16条);
- ``{foreign_authority}``: where a foreign-invested company applies, whatever the scope.

A fact whose texts use the first two is a fact that *names an approving authority*. Its answer
to a foreign-invested visitor always ends with the rule's note for them (where to file and the
extra materials); its answer to a visitor who did not say what company they are ends with the
exception for foreign-invested companies whenever it named a provincial bureau. A visitor who
said 内资 (or 个体户) gets neither.

Pure functions only: the caller (``facts.versioned_answer``) finds the rule in the database.
"""

from __future__ import annotations

import string
from typing import Iterable, Literal, Optional

# the fact whose data holds the rule, and where in its data
RULE_FACT = "licence.types"
RULE_KEY = "approval"
NATIONAL, LOCAL, FOREIGN = "national_authority", "local_authority", "foreign_authority"
PLACEHOLDERS = (NATIONAL, LOCAL, FOREIGN)
# the placeholders that make a fact one that names an approving authority for the visitor's case
CASE_PLACEHOLDERS = {NATIONAL, LOCAL}
# what the rule must give (the loader refuses a rule without them)
RULE_FIELDS = {
    "national": str,
    "local": str,
    "local_unnamed": str,
    "foreign": str,
    "foreign_types": list,
    "notes": dict,
}
NOTE_KINDS = ("foreign", "unknown")

Company = Literal["foreign", "domestic", "unknown"]


def placeholders(text: str) -> set[str]:
    """The names of the ``{placeholders}`` in ``text``.

    ValueError for a malformed brace, and for a conversion or format spec (``{x!r}``, ``{x:>9999}``):
    an answer names a value, it never formats one (a huge width would be a console-made denial of service).
    """
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no conversion or format")
        names.add(name)
    return names


def names_authority(texts: Iterable[str]) -> bool:
    """Whether any of a fact's texts names the approving authority for the visitor's case."""
    return any(placeholders(text) & CASE_PLACEHOLDERS for text in texts)


def rule_problems(rule: object) -> list[str]:
    """What is wrong with a rule block (empty when it is usable)."""
    if not isinstance(rule, dict):
        return [f"data.{RULE_KEY} must be a mapping"]
    problems = [
        f"data.{RULE_KEY}.{name} must be a {kind.__name__}"
        for name, kind in RULE_FIELDS.items()
        if not isinstance(rule.get(name), kind) or not rule.get(name)
    ]
    if problems:
        return problems
    if placeholders(rule["local"]) != {"province"}:
        problems.append(f"data.{RULE_KEY}.local must name the province as {{province}}")
    for kind in NOTE_KINDS:
        note = rule["notes"].get(kind)
        if not isinstance(note, str) or not note.strip():
            problems.append(f"data.{RULE_KEY}.notes.{kind} must be non-empty text")
        elif not placeholders(note) <= set(PLACEHOLDERS):
            problems.append(f"data.{RULE_KEY}.notes.{kind} may only use {', '.join(PLACEHOLDERS)}")
    return problems


def company(rule: dict, entities: dict) -> Company:
    """What the visitor said their company is, as far as the rule cares."""
    told = entities.get("company_type")
    if not told:
        return "unknown"
    return "foreign" if str(told) in {str(t) for t in rule["foreign_types"]} else "domestic"


def values(rule: dict, entities: dict) -> dict[str, str]:
    """The authorities for what the visitor told, by placeholder name."""
    province = entities.get("province")
    local = rule["local"].format(province=province) if province else rule["local_unnamed"]
    if company(rule, entities) == "foreign":
        local = rule["foreign"]
    return {NATIONAL: rule["national"], LOCAL: local, FOREIGN: rule["foreign"]}


def note(rule: dict, entities: dict, *, fact_names_authority: bool, named_local: bool) -> Optional[str]:
    """The sentence that follows an answer, or None.

    A foreign-invested visitor hears where to file and the extra materials after any answer of a
    fact that names an authority; a visitor who did not say hears the exception whenever a
    provincial bureau was named (so no answer is wrong for a foreign-invested visitor who did not
    say so); a domestic company hears nothing more.
    """
    kind = company(rule, entities)
    if kind == "foreign" and fact_names_authority:
        text = rule["notes"]["foreign"]
    elif kind == "unknown" and named_local:
        text = rule["notes"]["unknown"]
    else:
        return None
    return text.format_map(values(rule, entities))
