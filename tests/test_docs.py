"""The documentation matches the code: README's size and links, the settings table, the tests security.md cites."""

from __future__ import annotations

import os
import re
from pathlib import Path


def _root() -> Path:
    """The project root (the folder holding pyproject.toml), wherever this file sits under tests/."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise AssertionError("no pyproject.toml above tests/")


ROOT = _root()
DOCS = ROOT / "docs"
README = ROOT / "README.md"
REQUIRED_DOCS = {
    "channels.md",
    "console.md",
    "facts.md",
    "nlu.md",
    "operations.md",
    "settings.md",
    "security.md",
    "benchmarks.md",
}
LINK = re.compile(r"\]\(([^)\s]+?\.md)(#[^)\s]*)?\)")
# how bot/settings.py reads a variable: env.get("X"), or a typed helper such as _port(env, "X", 5005)
SETTINGS_READ = re.compile(
    r"""(?:\benv\.get|\b_(?:port|fraction|count|size|number|switch))\(\s*(?:env\s*,\s*)?["']([A-Z][A-Z0-9_]+)["']"""
)
CODE_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".conf", ".example"}
CODE_NAMES = {"Makefile", "Dockerfile", "run"}
SKIP = {"docs", "tests", "results", "models", "var", "test-artifacts"}  # top-level folders that are not code
TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(test_\w+)", re.MULTILINE)
CITED_TEST = re.compile(r"`(test_[a-z0-9_]+)(\*?)`")


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", text, re.MULTILINE)}


def _links(path: Path) -> list[tuple[Path, str]]:
    """The local Markdown files ``path`` links to, with the anchor (without #) or ''."""
    text = path.read_text(encoding="utf-8")
    return [
        ((path.parent / target).resolve(), (anchor or "#")[1:])
        for target, anchor in LINK.findall(text)
        if "://" not in target
    ]


def _code_text() -> str:
    """Every file of the product that can read the environment: not the docs, not the tests."""
    parts = []
    for folder, subfolders, files in os.walk(ROOT):
        if Path(folder) == ROOT:
            subfolders[:] = [name for name in subfolders if name not in SKIP]
        subfolders[:] = [name for name in subfolders if not name.startswith(".") or name == ".ci"]
        for name in files:
            path = Path(folder) / name
            if path.suffix in CODE_SUFFIXES or name in CODE_NAMES:
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def _settings_table() -> list[str]:
    """The variables named in the first column of docs/settings.md's table of every variable."""
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    section = text.split("## Every variable", 1)[1]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", first_column)
    return names


def test_readme_is_short_and_its_links_exist() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail into docs/"
    links = _links(README)
    linked_docs = {target.name for target, _ in links if target.parent == DOCS}
    assert linked_docs >= REQUIRED_DOCS, f"README.md does not link {sorted(REQUIRED_DOCS - linked_docs)}"
    missing = [str(target.relative_to(ROOT)) for target, _ in links if not target.is_file()]
    assert not missing, f"README.md links files that do not exist: {missing}"


def test_links_between_documents_reach_a_file_and_a_heading() -> None:
    broken = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target, anchor in _links(page):
            if not target.is_file():
                broken.append(f"{page.name} → {target.name} (no such file)")
            elif anchor and anchor not in _anchors(target):
                broken.append(f"{page.name} → {target.name}#{anchor} (no such heading)")
    assert not broken, broken


def test_every_variable_settings_reads_is_in_the_settings_table() -> None:
    read = set(SETTINGS_READ.findall((ROOT / "bot" / "settings.py").read_text(encoding="utf-8")))
    assert len(read) >= 40, f"found only {sorted(read)} in bot/settings.py: has the way it reads variables changed?"
    documented = set(_settings_table())
    missing = sorted(read - documented)
    assert not missing, f"bot/settings.py reads {missing}, which docs/settings.md's table does not list"


def test_every_variable_in_the_settings_table_is_used_by_the_code() -> None:
    names = _settings_table()
    assert len(names) >= 40
    assert len(names) == len(set(names)), "a variable is listed twice in docs/settings.md"
    code = _code_text()
    unused = [name for name in names if not re.search(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])", code)]
    assert not unused, f"docs/settings.md lists {unused}, which no code reads"


def test_every_test_cited_in_security_md_exists() -> None:
    defined = set()
    for path in (ROOT / "tests").rglob("*.py"):
        defined.update(TEST_DEF.findall(path.read_text(encoding="utf-8")))
    cited = CITED_TEST.findall((DOCS / "security.md").read_text(encoding="utf-8"))
    assert len(cited) >= 50, "docs/security.md should name the tests that hold each surface"
    missing = []
    for name, star in cited:
        if star:
            if not any(test.startswith(name) for test in defined):
                missing.append(name + "*")
        elif name not in defined:
            missing.append(name)
    assert not missing, f"docs/security.md cites tests that do not exist: {sorted(set(missing))}"
