"""Fixtures shared by every test, and the markers that sort tests into unit, stack and browser.

Helpers live in tests/support/; this file holds only fixtures and the collection hook.
"""

from __future__ import annotations

import os

import pytest

from bot import db, migrate, settings
from bot.facts_files import loader as facts_loader
from bot.store import leads, staff
from tests.support import servers
from tests.support.browser import ARGS, CHROMIUM, MISSING, chromium_missing
from tests.support.databases import FACTS_DIR, copy
from tests.support.fake_wechat import FakeWeChat
from tests.support.fake_wecom_kf import FakeWeComKF
from tests.support.sinks import WebhookSink
from tests.support.stack import running
from web import create_app
from web.console import auth

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

# Fixtures that start server processes (Rasa, PostgreSQL, Redis) or a browser. A test using one, directly or
# through another fixture, is marked `stack` or `browser`; every other test is a `unit` test (`make test-fast`).
# A test that starts servers some other way says so with @pytest.mark.stack.
STACK_FIXTURES = {"stack", "own_stack", "postgres_url", "redis_url"}
BROWSER_FIXTURES = {"browser"}


def pytest_configure(config):
    """Keep Hypothesis's files (its example database, its constants cache) out of the checkout: no test
    writes there (#23)."""
    import tempfile

    from hypothesis import settings as hypothesis_settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))
    hypothesis_settings.register_profile("project", database=None)
    hypothesis_settings.load_profile("project")


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & STACK_FIXTURES:
            item.add_marker(pytest.mark.stack)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if not (item.get_closest_marker("stack") or item.get_closest_marker("browser")):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test's processes read their settings anew (``settings.current()`` reads once per process)."""
    settings._current = None
    yield
    settings._current = None


# ---------- databases: each test gets its own SQLite file, a copy of one migrated (and loaded) once per run


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory) -> str:
    """A SQLite database migrated to the newest schema, with no rows: copied, never written to."""
    url = f"sqlite:///{tmp_path_factory.mktemp('templates') / 'schema.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def facts_template(tmp_path_factory) -> str:
    """A SQLite database at the newest schema with data/facts loaded: copied, never written to."""
    url = f"sqlite:///{tmp_path_factory.mktemp('templates') / 'facts.db'}"
    facts_loader.load_facts([FACTS_DIR], url)
    return url


@pytest.fixture
def empty_database(tmp_path, schema_template) -> str:
    """A fresh SQLite database at the newest schema, with no rows."""
    return copy(schema_template, tmp_path / "app.db")


@pytest.fixture
def url(empty_database, monkeypatch) -> str:
    """``empty_database`` named by DATABASE_URL, for code that finds its database through the settings (leads,
    the notifier, the staff command), never the checkout's var/. A module with a database of its own (the facts
    files, the stack's) defines its own ``url``."""
    monkeypatch.setenv("DATABASE_URL", empty_database)
    return empty_database


@pytest.fixture
def database_url(tmp_path, monkeypatch, facts_template) -> str:
    """A fresh SQLite facts database loaded from data/facts, used by settings."""
    url = copy(facts_template, tmp_path / "facts.db")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def session(database_url):
    with db.session_scope(database_url) as s:
        yield s


@pytest.fixture(scope="session")
def console_template(tmp_path_factory, facts_template) -> str:
    """The facts, an admin, an agent and a lead, written once: each test's console app works on a copy."""
    url = copy(facts_template, tmp_path_factory.mktemp("console") / "console.db")
    with db.session_scope(url) as session:
        staff.create_user("admin1", "admin", "admin password 1", session=session)
        staff.create_user("agent1", "agent", "agent password 1", session=session)
        leads.save_lead(
            {
                "conversation_id": "c1",
                "channel": "socketio",
                "name": "张先生",
                "phone": "13812345678",
                "company": "某某科技",
                "consent": True,
                "topics": ["capital"],
            },
            session=session,
        )
    db.get_engine(url).dispose()
    return url


@pytest.fixture
def console_app(tmp_path, console_template):
    """The web app (console and widget API) on a fresh copy of ``console_template``; nothing else running."""
    url = copy(console_template, tmp_path / "console.db")
    config = settings.load(
        {
            "DATABASE_URL": url,
            "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
            "WIDGET_SECRET": "w",
            "CONSOLE_SECRET": "c",
        }
    )
    app = create_app(config)
    auth._failures.clear()
    return app


# ---------- servers: PostgreSQL and Redis from Debian's packages (scripts/system-deps.sh)


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server for this module, with one empty database."""
    with servers.postgres() as url:
        yield url
        db.get_engine(url).dispose()


@pytest.fixture(scope="module")
def redis_url():
    """A throw-away Redis server for this module."""
    with servers.redis_server() as url:
        yield url


# ---------- the running assistant, with local stand-ins for WeChat's API and the staff webhook


@pytest.fixture(scope="session")
def fake_wechat():
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture(scope="session")
def webhook_sink():
    with WebhookSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def fake_wecom_kf():
    with FakeWeComKF() as fake:
        yield fake


@pytest.fixture(scope="session")
def stack(tmp_path_factory, fake_wechat, fake_wecom_kf, webhook_sink):
    """The stack shared by the whole run (`python -m services.run` on free ports): never kill its processes."""
    with running(
        tmp_path_factory.mktemp("stack"),
        fake_wechat.base,
        NOTIFY_WEBHOOK_URL=webhook_sink.url,
        WECOM_KF_API_BASE=fake_wecom_kf.base,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def own_fake_wechat():
    with FakeWeChat() as fake:
        yield fake


@pytest.fixture(scope="module")
def own_webhook_sink():
    with WebhookSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory, own_fake_wechat, own_webhook_sink):
    """A stack of this module's own, with its own WeChat stand-in and webhook: for tests that kill its processes
    (found under its launcher's PID, tests/support/stack.py), so no other test's stack is touched."""
    with running(
        tmp_path_factory.mktemp("own-stack"), own_fake_wechat.base, NOTIFY_WEBHOOK_URL=own_webhook_sink.url
    ) as stack:
        yield stack


# ---------- the browser


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through Playwright."""
    if chromium_missing():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()
