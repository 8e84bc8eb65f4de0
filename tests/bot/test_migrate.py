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

from bot import db, migrate, settings
from bot.facts_files import loader as facts_loader
from bot.settings import PROJECT_ROOT
from bot.store import facts, leads, staff, summaries
from tests.support.databases import FACTS_DIR
from tests.support.servers import postgres

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
            out[name] = sorted(tuple(str(v) for v in row) for row in connection.execute(sa.select(table)))
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


def test_every_fact_of_the_old_database_starts_its_history_at_version_1(old_database):
    migrate.upgrade(old_database)
    with db.session_scope(old_database) as session:
        all_facts = facts.all_facts(session=session)
        assert all_facts
        for fact in all_facts:
            [first] = facts.versions(fact.key, session=session)
            assert (first.version, first.author, fact.version) == (1, "migration 0004", 1)
            assert first.content == facts.content_of(fact)  # the row as it was, corrections included
        validity = facts.versions("licence.validity", session=session)[0]
        assert validity.content["answer"] == CONSOLE_EDIT  # the console edit is the first version's text
        assert "1 earlier console edit(s)" in validity.reason
        [edit] = facts.edits("licence.validity", session=session)  # and its log entry is kept
        assert edit.after["answer"] == CONSOLE_EDIT


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
    app = create_app(
        settings.load(
            {
                "DATABASE_URL": old_database,
                "TRACKER_STORE_URL": old_database,
                "WIDGET_SECRET": "w",
                "CONSOLE_SECRET": "c",
            }
        )
    )
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/console/login", data={"username": "admin1", "password": "admin password 1", "csrf_token": token}
        ).status_code
        == 302
    )
    summaries.refresh(old_database, old_database)  # what the notifier does every round
    listing = client.get("/console/conversations").get_data(as_text=True)
    assert "fx-visitor-2" in listing and "fx-visitor-1" in listing
    assert "已电话联系" in client.get("/console/leads/1").get_data(as_text=True)
    page = client.get("/console/facts/licence.validity").get_data(as_text=True)
    assert "早期修改记录" in page and CONSOLE_EDIT in page and "migration 0004" in page
    with db.session_scope(old_database) as session:
        assert [v.version for v in facts.versions("licence.validity", session=session)] == [1]


def test_a_new_database_gets_exactly_the_models_schema(empty_database):
    assert migrate.current(empty_database) == migrate.head()
    assert differences(empty_database) == []
    assert migrate.upgrade(empty_database) == migrate.head()  # a second run changes nothing


def test_the_command_upgrades_and_reports(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "tools.migrate", "--url", url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"revision {migrate.head()}" in done.stdout
    current = subprocess.run(
        [sys.executable, "-m", "tools.migrate", "current", "--url", url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert current.stdout.strip() == migrate.head()


def test_an_unreachable_database_is_one_clear_line():
    done = subprocess.run(
        [sys.executable, "-m", "tools.migrate", "--url", "postgresql://nobody@127.0.0.1:9/none"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: database unavailable") and "Traceback" not in done.stderr


@pytest.mark.stack
def test_two_instances_migrating_postgresql_at_once_both_succeed():
    with postgres("migrations") as url:
        command = [sys.executable, "-m", "tools.migrate", "--url", url]
        runs = [
            subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=180) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert differences(url) == []
        db.get_engine(url).dispose()


@pytest.mark.stack
def test_postgresql_facts_get_version_1_and_edits_and_restores_work_there(old_database):
    """Production runs PostgreSQL: the data step of 0004 and the row lock of an edit work there too."""
    migrate.upgrade(old_database, "0003")
    with postgres("versions") as url:
        migrate.upgrade(url, "0003")
        source, target = db.get_engine(old_database), db.get_engine(url)
        with source.connect() as old, target.begin() as new:
            for name in ("facts", "fact_corrections"):
                table = sa.Table(name, sa.MetaData(), autoload_with=old)
                rows = [dict(row._mapping) for row in old.execute(sa.select(table))]
                new.execute(sa.Table(name, sa.MetaData(), autoload_with=new).insert(), rows)
        assert migrate.upgrade(url) == migrate.head()
        with db.session_scope(url) as session:
            for fact in facts.all_facts(session=session):
                [first] = facts.versions(fact.key, session=session)
                assert first.version == 1 and first.content == facts.content_of(fact)
            assert (
                facts.edit_fact(
                    "licence.validity", {"answer": "有效期为5年。"}, "admin1", "复核", session=session, base_version=1
                ).version
                == 2
            )
        with db.session_scope(url) as session:
            assert facts.restore_version("licence.validity", 1, "admin1", session=session).version == 3
            assert facts.get_fact("licence.validity", session=session).answer == CONSOLE_EDIT
        db.get_engine(url).dispose()


def test_f08_lead_and_handoff_ids_fit_the_longest_sender_a_channel_accepts(old_database):
    """F8: leads.conversation_id and handoffs.conversation_id were String(100); a REST sender may be 128."""
    from bot.plugins.channels.public import MAX_SENDER

    migrate.upgrade(old_database)
    with db.get_engine(old_database).connect() as connection:
        inspector = sa.inspect(connection)
        for table in ("leads", "handoffs"):
            [column] = [c for c in inspector.get_columns(table) if c["name"] == "conversation_id"]
            assert column["type"].length >= MAX_SENDER, table
    assert leads.Lead.__table__.c.conversation_id.type.length >= MAX_SENDER


@pytest.mark.stack
def test_f08_postgresql_stores_a_lead_and_a_handoff_for_the_longest_sender(old_database):
    """F8 where it failed: PostgreSQL enforces the column's length."""
    from bot.plugins.channels.public import MAX_SENDER
    from bot.store import handoffs

    with postgres("widths") as url:
        migrate.upgrade(url)
        sender = "s" * MAX_SENDER
        with db.session_scope(url) as session:
            handoffs.queue_handoff(sender, "rest", session=session)
            leads.save_lead(
                {"conversation_id": sender, "channel": "rest", "name": "张", "phone": "13812345678", "consent": True},
                session=session,
            )
        with db.session_scope(url) as session:
            assert handoffs.open_handoff(sender, session=session) is not None
        db.get_engine(url).dispose()
