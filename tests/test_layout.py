"""The layout holds: bot/ is the shared library, and nothing in it reaches up into a process, a tool or the tests."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.settings import PROJECT_ROOT

LIBRARY = PROJECT_ROOT / "bot"
# the packages above the library: each process's own code, the commands, the benchmarks and the tests
ABOVE = {"actions", "web", "notifier", "services", "tools", "bench", "tests"}
# bot/console.py keeps the staff command's documented name (python -m bot.console) and only forwards to it
ALLOWED = {("bot/console.py", "tools.staff")}


def imported(source: str) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function (a lazy import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def upward_imports(folder: Path, root: Path = PROJECT_ROOT) -> list[str]:
    """``file: module`` for each import of a package in ABOVE by a module under ``folder`` (named from ``root``)."""
    wrong = []
    for file in sorted(folder.rglob("*.py")):
        name = file.relative_to(root).as_posix()
        for module in sorted(imported(file.read_text(encoding="utf-8"))):
            allowed = any(name == n and (module == m or module.startswith(f"{m}.")) for n, m in ALLOWED)
            if module.split(".")[0] in ABOVE and not allowed:
                wrong.append(f"{name}: {module}")
    return wrong


def test_nothing_in_the_library_imports_a_process_a_tool_or_the_tests():
    assert upward_imports(LIBRARY) == []


def test_the_rule_sees_lazy_and_from_imports_and_ignores_relative_ones(tmp_path):
    (tmp_path / "a.py").write_text("import json\n\ndef f():\n    from actions import decide\n")
    (tmp_path / "b.py").write_text("from tests.support import stack\nimport web.console\n")
    (tmp_path / "c.py").write_text("from bot import db\nfrom . import tools\n")
    assert upward_imports(tmp_path, tmp_path) == [
        "a.py: actions",
        "a.py: actions.decide",
        "b.py: tests.support",
        "b.py: tests.support.stack",
        "b.py: web.console",
    ]
