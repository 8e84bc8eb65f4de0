"""The web app's response headers: the console never framed nor cached, the widget's files loadable anywhere."""

from __future__ import annotations

import re

import pytest

from tests.support.console import login


@pytest.fixture
def app(console_app):
    return console_app


def test_n06_console_headers_forbid_framing_inline_scripts_and_caching(app):
    """N6, I1: CSP without inline scripts or styles, no framing, nosniff, no-store on console pages and API."""
    client = app.test_client()
    login(client, "admin1", "admin password 1")
    for path in ("/console/login", "/console/dashboard", "/console/leads", "/console/api/leads", "/console/handoff"):
        response = client.get(path)
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'" and response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", page), path
        assert " style=" not in page and "<style" not in page, path


def test_n06_widget_files_and_demo_page_keep_working_headers(app):
    """N6: the widget's files carry nosniff but nothing that stops other sites from loading them."""
    client = app.test_client()
    for path in ("/widget.js", "/widget.css", "/vendor/socket.io.min.js"):
        with client.get(path) as response:  # a file response holds the file open until closed
            assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers.get("Cross-Origin-Resource-Policy", "cross-origin") == "cross-origin"
            assert "X-Frame-Options" not in response.headers
    demo = client.get("/")
    assert "script-src 'self'" in demo.headers["Content-Security-Policy"]
    assert app.config["SETTINGS"].rasa_public_url.replace("http", "ws", 1) in demo.headers["Content-Security-Policy"]
