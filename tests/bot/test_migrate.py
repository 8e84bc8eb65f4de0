"""Schema migrations: a database made before migrations upgrades with every row kept; models and migrations agree."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import db, facts_loader, migrate, settings
from bot.store import facts, leads, staff
from bot.settings import PROJECT_ROOT
from tests.support.databases import FACTS_DIR

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "db-fd83708.sql"
CONSOLE_EDIT = "许可证有效期为5年（控制台编辑）。"


@pytest.fixture
def old_database(tmp_path) -> str:
    """The database fd83708's code left behind (see the fixture's header), as a file."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(FIXTURE.read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


def rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, by table, in a stable order."""
    engine = db.get_engine(url)
    out = {}
    with engine.connect() as connection:
        for name in sa.inspect(connection).get_table_names():
            if name == "alembic_version":
                continue
            table = sa.Table(name, sa.MetaData(), autoload_with=connection)
            out[name] = sorted((tuple(str(v) for v in row) for row in connection.execute(sa.select(table))))
    return out


def differences(url: str) -> list:
    with db.get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _ours, "compare_type": True})
        return compare_metadata(context, migrate.metadata())


def _ours(obj, name, type_, reflected, compare_to):  # noqa: ARG001 - Alembic's hook signature
    return not (type_ == "table" and (name == "events" or (reflected and compare_to is None)))


def test_upgrading_the_old_database_keeps_every_row(old_database):
    before = rows(old_database)
    assert before["leads"] and before["staff_users"] and before["events"] and before["fact_edits"]
    assert migrate.upgrade(old_database) == migrate.head()
    after = rows(old_database)
    for table, old_rows in before.items():
        # columns added later come after the old ones: compare each old row on its old columns
        width = len(old_rows[0]) if old_rows else 0
        assert sorted(row[:width] for row in after[table]) == old_rows, table
    assert differences(old_database) == []


def test_after_the_upgrade_staff_log_in_and_the_console_edit_survives_a_facts_reload(old_database):
    from web import create_app

    migrate.upgrade(old_database)
    report = facts_loader.load_facts([FACTS_DIR], old_database)
    assert "licence.validity" not in report.updated  # the file row did not change: the console edit stays
    with db.session_scope(old_database) as session:
        assert facts.get_fact("licence.validity", session=session).answer == CONSOLE_EDIT
        assert {lead.name for lead in leads.list_leads(session=session)} == {"张先生", "李女士"}
        # tokens issued before roles existed are agents: no full phones, no facts
        assert [token.role for token in session.query(staff.ApiToken)] == ["agent"]
    app = create_app(settings.load({"DATABASE_URL": old_database, "TRACKER_STORE_URL": old_database,
                                    "WIDGET_SECRET": "w", "CONSOLE_SECRET": "c"}))
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/console/login", data={"username": "admin1", "password": "admin password 1",
                                               "csrf_token": token}).status_code == 302
    listing = client.get("/console/conversations").get_data(as_text=True)
    assert "fx-visitor-2" in listing and "fx-visitor-1" in listing
    assert "已电话联系" in client.get("/console/leads/1").get_data(as_text=True)


def test_a_new_database_gets_exactly_the_models_schema(empty_database):
    assert migrate.current(empty_database) == migrate.head()
    assert differences(empty_database) == []
    assert migrate.upgrade(empty_database) == migrate.head()  # a second run changes nothing


def test_the_command_upgrades_and_reports(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = subprocess.run([sys.executable, "-m", "bot.migrate", "--url", url], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"revision {migrate.head()}" in done.stdout
    current = subprocess.run([sys.executable, "-m", "bot.migrate", "current", "--url", url], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=120)
    assert current.stdout.strip() == migrate.head()


def test_an_unreachable_database_is_one_clear_line():
    done = subprocess.run([sys.executable, "-m", "bot.migrate", "--url", "postgresql://nobody@127.0.0.1:9/none"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: database unavailable") and "Traceback" not in done.stderr


def test_two_instances_migrating_postgresql_at_once_both_succeed(postgres_url):
    command = [sys.executable, "-m", "bot.migrate", "--url", postgres_url]
    runs = [subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert differences(postgres_url) == []
