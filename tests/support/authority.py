"""Reading what an answer says about who approves the licence (issue #22), for the consistency test and the
foreign-investor e2e test.

A text is read clause by clause: a clause that names an authority after 由/向/找 (or before 审批/核发 …) says who
approves for the scope and the company type that clause or the ones before it in the sentence name (全网/地网,
外资/内资); with neither, it speaks of the visitor's own case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import yaml

from bot.settings import PROJECT_ROOT

FOREIGN_TYPES = {"外资", "港澳台"}

ALL_PROVINCES = list(
    yaml.safe_load((PROJECT_ROOT / "bot" / "lexicon" / "entities.yml").read_text(encoding="utf-8"))["phrases"][
        "province"
    ]
)
MIIT = "工业和信息化部"
BUREAU = "省通信管理局"
AUTHORITY = re.compile(
    r"工业和信息化部|工信部|(?P<province>"
    + "|".join(ALL_PROVINCES)
    + r")?(?:所在省的?|该省|省级?|各省)?通信管理局|管局"
)
# 「工信部《关于…》」, 「工信部令第42号」, 「工信部政务服务平台」: a document or a website, not an approval
NOT_APPROVAL = re.compile(
    r"(?:工业和信息化部|工信部)(?:办公厅)?(?=《|令|信管|\d{4}年|的|政务服务平台|“|码号|公布|通知|办事指南)"
)
BY = "由向找"
APPROVES = ("审批", "核发", "审查", "批准", "受理")
NATIONAL_WORDS = re.compile(r"全网|跨地区|跨省|两个及以上省份|多个省")
LOCAL_WORDS = re.compile(r"地网|省内|一个省|一省之内|只在\S{2,8}经营")
FOREIGN_WORDS = re.compile(r"外商|外资|港澳台")
DOMESTIC_WORDS = re.compile(r"内资")
NUMBERS = re.compile(r"号码|码号|95|96")  # 95/96 number approvals: another matter, another authority


@dataclass(frozen=True)
class Says:
    """One clause's statement: for whom (company, scopes; None = the visitor's own case), which authority."""

    company: Optional[str]  # "foreign", "domestic" or None
    scopes: Optional[frozenset]  # {"national", "local"} or None
    authority: str  # MIIT, BUREAU, or a named province's bureau
    clause: str


def sentences(text: str) -> list[str]:
    # an enumeration's items are on lines of their own, its lead-in (「在上海市办地网：」) before them
    return [s for s in re.split(r"[。；]", text.replace("\n", "")) if s.strip()]


def statements(text: str) -> list[Says]:
    """Who approves, as each clause of ``text`` says it."""
    found = []
    for sentence in sentences(NOT_APPROVAL.sub("※", text)):
        if NUMBERS.search(sentence):
            continue
        company: Optional[str] = None
        scopes: Optional[frozenset] = None
        for clause in re.split(r"[，：:、（）]", sentence):
            named = {s for s, words in (("national", NATIONAL_WORDS), ("local", LOCAL_WORDS)) if words.search(clause)}
            scopes = frozenset(named) if named else scopes
            if FOREIGN_WORDS.search(clause):
                company = "foreign"
            elif DOMESTIC_WORDS.search(clause):
                company = "domestic"
            for match in AUTHORITY.finditer(clause):
                before, after = clause[: match.start()], clause[match.end() :]
                if not (re.search(f"[{BY}]\\S?$", before) or after.startswith(APPROVES)):
                    continue  # named, but not as the one who approves (「以江西省通信管理局的办事指南为例」)
                if "不" in before[-3:]:
                    continue  # 「不找省通信管理局」
                name = match.group(0)
                province = match.group("province")
                who = MIIT if "工" in name else f"{province}通信管理局" if province else BUREAU
                found.append(Says(company, scopes, who, clause))
    return found


def expected(company: str, scope: str, province: Optional[str]) -> set[str]:
    """Who may be named as approving ``scope`` for a ``company`` (foreign or domestic) in ``province``."""
    if company == "foreign" or scope == "national":
        return {MIIT}
    return {BUREAU} | ({f"{province}通信管理局"} if province else set())


def kind_of(case: dict) -> str:
    told = case.get("company_type")
    return "unknown" if not told else "foreign" if told in FOREIGN_TYPES else "domestic"


def told_scopes(case: dict) -> frozenset:
    return (
        frozenset({{"全网": "national", "地网": "local"}[case["licence_scope"]]}) if "licence_scope" in case else None
    )


def wrong_authorities(text: str, case: dict) -> list[str]:
    """What ``text`` says about who approves that is wrong for the visitor ``case`` describes."""
    problems = []
    visitor = kind_of(case)
    says = statements(text)
    for s in says:
        scopes = s.scopes or told_scopes(case) or frozenset({"national", "local"})
        for scope in scopes:
            if s.company is not None:  # said of foreign-invested or of domestic companies: true for them?
                ok = s.authority in expected(s.company, scope, case.get("province"))
            elif visitor == "unknown":  # true for a domestic company, and foreign ones hear the exception
                ok = s.authority in expected("domestic", scope, case.get("province")) and (
                    scope == "national"
                    or any(
                        o.company == "foreign" and o.authority == MIIT and (o.scopes or {scope}) >= {scope}
                        for o in says
                    )
                )
            else:
                ok = s.authority in expected(visitor, scope, case.get("province"))
            if not ok:
                problems.append(f"names {s.authority} for {s.company or visitor} {scope}: 「{s.clause}」")
    return problems


def claim_true_for(claim: str) -> set[str]:
    """The company kinds for whom every statement of a correction's claim about who approves is true."""
    says = statements(claim)
    return {
        kind
        for kind in ("foreign", "domestic")
        if says
        and all(
            s.authority in expected(kind, scope, None)
            for s in says
            for scope in s.scopes or frozenset({"national", "local"})
        )
    }


# the facts a foreign-invested visitor's question about who approves a 地网 may reach (whichever the model picks)
FOREIGN_ANSWERS = (
    "licence.types",
    "licence.coverage",
    "process.steps",
    "conditions.materials",
    "foreign.approval",
    "foreign.investment",
    "foreign.hk_macau_taiwan",
)
