"""The staff accounts command (tools/staff.py, python -m bot.console)."""

from __future__ import annotations

import io
import re

import pytest

from bot import db
from bot.store import staff
from tools import staff as console


@pytest.fixture
def app(console_app):
    return console_app


def test_console_cli_manages_users_and_tokens(app, monkeypatch, capsys):
    """F7, I6: delete-user, set-role, set-password, create-token --role, list-tokens, revoke-token."""
    url = app.config["SETTINGS"].database_url
    monkeypatch.setenv("DATABASE_URL", url)
    assert console.main(["set-role", "agent1", "--role", "admin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert console.main(["set-password", "agent1"]) == 0
    capsys.readouterr()
    assert console.main(["list-users"]) == 0
    assert re.search(r"agent1\s+admin", capsys.readouterr().out)
    assert console.main(["delete-user", "agent1"]) == 0
    assert console.main(["delete-user", "agent1"]) == 1
    assert console.main(["create-token", "crm", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert console.main(["create-token", "crm"]) == 1  # one live token per name: revoke first
    assert console.main(["list-tokens"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"crm\s+admin", listing) and token not in listing
    client = app.test_client()
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert console.main(["revoke-token", "crm"]) == 0
    assert client.get("/console/api/facts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert console.main(["revoke-token", "crm"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert console.main(["create-user", "token:crm", "--role", "admin"]) == 1  # the tokens' namespace
    assert console.main(["create-token", "a b"]) == 1
    with db.session_scope(url) as session:
        assert staff.check_password(
            "admin password 1", session.query(staff.StaffUser).filter_by(name="admin1").one().password_hash
        )


def test_create_user_reads_the_password_from_stdin(url, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert console.main(["create-user", "wang", "--role", "agent"]) == 0
    with db.session_scope(url) as session:
        user = session.query(staff.StaffUser).one()
        assert user.role == "agent" and staff.check_password("correct horse battery", user.password_hash)
        assert not staff.check_password("wrong", user.password_hash)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert console.main(["create-user", "li", "--role", "admin"]) == 1
    assert "at least 10" in capsys.readouterr().err
