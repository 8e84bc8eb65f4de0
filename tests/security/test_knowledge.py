"""Attack tests on versioned knowledge (#15): fact history, restore, the versions API, the transcript's fixes.

Against the running stack; each test uses its own staff users and tokens and puts every fact it
changes back (as a new version: history is never rewritten).
"""

from __future__ import annotations

import uuid

import pytest
import requests

from bot import db
from bot.store import conversations, facts
from tests.support.console import bearer, log_in, make_token, make_user, summaries_caught_up

XSS_ANSWER = '有效期为5年。<img src=x onerror="alert(1)"></textarea><script>alert(3)</script>'
XSS_REASON = "<script>alert(2)</script>复核"


def versions_of(stack, key: str) -> list[int]:
    with db.session_scope(stack.database_url) as session:
        return [v.version for v in facts.versions(key, session=session)]


def current(stack, key: str) -> tuple[int, str]:
    with db.session_scope(stack.database_url) as session:
        fact = facts.get_fact(key, session=session)
        return fact.version, fact.answer


def put_back(stack, key: str, version: int) -> None:
    with db.session_scope(stack.database_url) as session:
        facts.restore_version(key, version, "security-test", "put back after an attack test", session=session)


def test_restore_without_the_csrf_token_is_refused(stack):
    """#15 restore: a cross-site form (the admin's cookie, no or a wrong CSRF token) cannot restore a version."""
    admin = log_in(stack, make_user(stack, "admin"))
    key = "licence.coverage"
    before = versions_of(stack, key)
    url = f"{stack.web_url}/console/facts/{key}/versions/1/restore"
    assert admin.post(url, timeout=15, allow_redirects=False).status_code == 403
    assert admin.post(url, data={"csrf_token": "forged"}, timeout=15, allow_redirects=False).status_code == 403
    assert versions_of(stack, key) == before


def test_agents_and_agent_tokens_cannot_read_or_restore_versions(stack):
    """#15 roles: facts are admin work — an agent (cookie or token) gets 403 on history, versions, restore, API."""
    key = "licence.coverage"
    before = versions_of(stack, key)
    agent = log_in(stack, make_user(stack, "agent"))
    for path in (
        f"/console/facts/{key}",
        f"/console/facts/{key}/versions/1",
        "/console/facts/export.zip",
        f"/console/api/facts/{key}/versions",
    ):
        assert agent.get(stack.web_url + path, timeout=15, allow_redirects=False).status_code == 403, path
    restore = agent.post(
        f"{stack.web_url}/console/facts/{key}/versions/1/restore",
        data={"csrf_token": agent.csrf},
        timeout=15,
        allow_redirects=False,
    )
    assert restore.status_code == 403
    api = f"{stack.web_url}/console/api/facts/{key}/versions"
    assert requests.get(api, headers=bearer(make_token(stack, "agent")), timeout=15).status_code == 403
    assert requests.get(api, timeout=15).status_code == 401
    answer = requests.get(api, headers=bearer(make_token(stack, "admin")), timeout=15)
    assert answer.status_code == 200 and answer.json()["versions"]
    # the API has no write twin: a token cannot restore
    assert requests.post(f"{api}/1/restore", headers=bearer(make_token(stack, "admin")), timeout=15).status_code in (
        404,
        405,
    )
    assert versions_of(stack, key) == before


@pytest.mark.parametrize("number", ["0", "-1", "abc", "99999999999999999999", "1.5"])
def test_odd_version_numbers_get_a_clean_404(stack, number):
    """#15 robustness: a version number that is not one gives 404, never a server error."""
    admin = log_in(stack, make_user(stack, "admin"))
    key = "licence.coverage"
    page = admin.get(f"{stack.web_url}/console/facts/{key}/versions/{number}", timeout=15)
    assert page.status_code == 404
    restore = admin.post(
        f"{stack.web_url}/console/facts/{key}/versions/{number}/restore",
        data={"csrf_token": admin.csrf},
        timeout=15,
        allow_redirects=False,
    )
    assert restore.status_code == 404 and "Traceback" not in restore.text


def test_markup_in_an_answer_or_reason_stays_text_in_history_diff_and_transcript(stack):
    """#15 XSS: an answer and a reason carrying markup are shown as text in the history, the diff, the version page
    and the transcript bubble the visitor's answer became; nothing runs (also: the console's CSP allows no inline
    script)."""
    key = "licence.renewal"
    start, original = current(stack, key)
    admin = log_in(stack, make_user(stack, "admin"))
    page = admin.get(f"{stack.web_url}/console/facts/{key}", timeout=15).text
    verified = page.split('name="verified_date" value="')[1].split('"')[0]
    try:
        saved = admin.post(
            f"{stack.web_url}/console/facts/{key}",
            data={
                "csrf_token": admin.csrf,
                "base_version": str(start),
                "question": "到期怎么续期？",
                "answer": XSS_ANSWER,
                "sources": "电信业务经营许可管理办法（工信部令第42号）",
                "confidence": "M",
                "confidence_note": "",
                "verified_date": verified,
                "reason": XSS_REASON,
            },
            timeout=15,
            allow_redirects=False,
        )
        assert saved.status_code == 302
        for path in (f"/console/facts/{key}", f"/console/facts/{key}/versions/{start + 1}"):
            response = admin.get(stack.web_url + path, timeout=15)
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            body = response.text
            assert "<script>alert" not in body and "<img src=x" not in body and "</textarea><script>" not in body, path
            assert "&lt;script&gt;alert(2)&lt;/script&gt;复核" in body, path
            assert "&lt;img src=x onerror=" in body, path
        sender = f"sec-knowledge-{uuid.uuid4().hex}"
        assert "<img src=x" in stack.text(sender, "呼叫中心许可证到期怎么续期")  # the widget escapes it; staff too:
        summaries_caught_up(stack.tracker_store_url, stack.database_url)  # once the notifier has folded it
        transcript = admin.get(f"{stack.web_url}/console/conversations/{sender}", timeout=15).text
        assert "&lt;img src=x onerror=" in transcript and "<img src=x" not in transcript
        assert f"{key} v{start + 1}" in transcript
    finally:
        put_back(stack, key, start)
    assert current(stack, key) == (start + 2, original)


def test_a_training_example_from_a_bot_bubble_needs_the_csrf_token(stack):
    """#15 「应答为…」: the one-click fix posts to the collect endpoint, which refuses a request with no CSRF token."""
    admin = log_in(stack, make_user(stack, "admin"))
    sender = f"sec-collect-{uuid.uuid4().hex}"
    url = f"{stack.web_url}/console/conversations/{sender}/collect"
    assert (
        admin.post(
            url, data={"text": "有效期多久", "intent": "ask_renewal"}, timeout=15, allow_redirects=False
        ).status_code
        == 403
    )
    with db.session_scope(stack.database_url) as session:
        assert not session.query(conversations.CollectedExample).filter_by(conversation_id=sender).count()
