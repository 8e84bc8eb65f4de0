"""The facts command (tools/facts.py): load, export, and what it reports."""

from __future__ import annotations

import pytest

from bot.facts_files.loader import read_facts
from tests.support.databases import FACTS_DIR
from tests.support.facts_files import GOOD, write
from tools.facts import main


@pytest.fixture
def project_facts(database_url):
    """A database holding data/facts as the loader loads it (a copy of the one loaded once per run)."""
    return database_url


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'facts.db'}"


def test_the_export_command(tmp_path, project_facts, capsys):
    url = project_facts
    assert main(["export", "--out", str(tmp_path / "x"), "--database-url", url]) == 0
    assert f"exported {len(read_facts([FACTS_DIR]))} facts" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "x"), "--database-url", url]) == 0
    assert "0 file(s) written, 10 unchanged" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    assert main(["export", "--out", str(tmp_path / "file"), "--database-url", url]) == 1
    assert capsys.readouterr().err.startswith("error: cannot write")


def test_cli_reports_changes_and_errors(tmp_path, url, capsys):
    path = write(tmp_path, "a.yml", GOOD)
    assert main([str(path), "--database-url", url]) == 0
    assert "2 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main([str(path), "--database-url", url]) == 0
    assert "0 added, 0 updated, 2 unchanged" in capsys.readouterr().out
    bad = write(tmp_path, "bad.yml", "facts: [1]\n")
    assert main([str(bad), "--database-url", url]) == 1
    assert "bad.yml:" in capsys.readouterr().err
