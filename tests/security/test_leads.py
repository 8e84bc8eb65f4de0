"""F14, N9, F16, F5, F2: leads, handoffs and staff notifications against the running stack."""

from __future__ import annotations

import uuid

import requests

from bot import db
from bot.store import handoffs, leads
from tests.support.waiting import eventually


def visitor(prefix: str = "sec-lead") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def unique_phone() -> str:
    return "136" + str(uuid.uuid4().int)[:8]


def leave_lead(
    stack, sender: str, phone: str, name: str = "李女士", company: str = "杭州某某网络科技有限公司", note: str = "没有"
) -> str:
    """Fill the lead form over REST as a visitor would; return the confirmation."""
    stack.text(sender, "帮我办一个呼叫中心许可证")
    stack.text(sender, name)
    stack.text(sender, phone)
    stack.text(sender, company)
    stack.text(sender, "浙江杭州")
    stack.text(sender, "地网")
    stack.text(sender, note)
    return stack.text(sender, "/affirm")


def outbox(stack, phone: str) -> list[leads.Notification]:
    """The notifications queued for the leads with ``phone``."""
    with db.session_scope(stack.database_url) as session:
        return session.query(leads.Notification).join(leads.Lead).filter(leads.Lead.phone == phone).all()


def stored(stack, phone: str) -> list[dict]:
    with db.session_scope(stack.database_url) as session:
        rows = session.query(leads.Lead).filter(leads.Lead.phone == phone).order_by(leads.Lead.id).all()
        return [row.as_dict(mask=False) for row in rows]


def test_f14_a_known_phone_cannot_overwrite_someone_elses_lead(stack):
    """F14: a second form with the victim's phone from another conversation leaves the victim's lead as it was."""
    victim, attacker, phone = visitor(), visitor("attacker"), unique_phone()
    assert "已记录" in leave_lead(stack, victim, phone, name="王先生", company="真实客户有限公司")
    assert "已记录" in leave_lead(stack, attacker, phone, name="冒名者", company="攻击者写入的公司")
    first, second = stored(stack, phone)
    assert (first["name"], first["company"], first["conversation_id"]) == ("王先生", "真实客户有限公司", victim)
    assert second["conversation_id"] == attacker and second["duplicate_of"] == first["id"]


def test_n09_the_visitor_form_never_touches_staff_notes(stack):
    """N9: staff notes survive the visitor (or someone with the phone) sending the form again."""
    sender, phone = visitor(), unique_phone()
    leave_lead(stack, sender, phone, note="下午方便")
    with db.session_scope(stack.database_url) as session:
        lead = session.query(leads.Lead).filter(leads.Lead.phone == phone).one()
        lead.note = "已电话，周五回访（员工备注）"
    # the same visitor again: the form only asks what it does not know yet (the note, the consent)
    assert "补充" in stack.text(sender, "帮我办一个呼叫中心许可证")
    stack.text(sender, "改成上午")
    assert "已记录" in stack.text(sender, "/affirm")
    leave_lead(stack, visitor("attacker"), phone, note="覆盖员工备注")
    first, duplicate = stored(stack, phone)
    assert first["note"] == "已电话，周五回访（员工备注）" and first["visitor_note"] == "改成上午"
    assert duplicate["note"] is None and duplicate["duplicate_of"] == first["id"]


def test_f05_notifications_carry_a_console_link_not_the_session_id(stack, webhook_sink):
    """F5: whoever reads a lead notification gets a link staff must log in to follow, not the visitor's session."""
    sender, phone = visitor(), unique_phone()
    leave_lead(stack, sender, phone)
    [lead] = stored(stack, phone)
    [received] = eventually(lambda: [r for r in webhook_sink.received if r["body"]["lead"]["phone"] == phone])
    body = received["body"]
    assert sender not in str(body)
    assert body["lead"]["console_url"].endswith(f"/console/leads/{lead['id']}")
    assert f"/console/leads/{lead['id']}" in body["text"]


def test_f16_one_phone_cannot_flood_staff_notifications(stack, webhook_sink):
    """F16: the same phone from many conversations notifies staff a few times an hour; every lead is still stored."""
    phone = unique_phone()
    for _ in range(leads.NOTIFY_PER_PHONE + 2):
        assert "已记录" in leave_lead(stack, visitor("flood"), phone)
    assert len(stored(stack, phone)) == leads.NOTIFY_PER_PHONE + 2
    # the probe: the notifier has delivered every row the outbox has for this phone (a row is marked
    # delivered only after the sink took it), so a notification past the cap would be in the sink by now
    assert eventually(lambda: all(row.delivered_at for row in outbox(stack, phone)))
    delivered = [r for r in webhook_sink.received if r["body"]["lead"]["phone"] == phone]
    assert len(delivered) == len(outbox(stack, phone)) == leads.NOTIFY_PER_PHONE


def test_f16_handoff_flood_is_capped_and_refused_politely(stack):
    """F16: many new conversations asking for a human fill the queue only up to the cap; the rest hear staff is busy."""
    senders, replies = [], {}
    try:
        for _ in range(12):
            sender = visitor("handoff-flood")
            senders.append(sender)
            replies[sender] = stack.text(sender, "转人工")
            if "都在忙" in replies[sender]:
                break
        queued = [s for s in senders if "正在为您转接" in replies[s]]
        refused = [s for s in senders if "都在忙" in replies[s]]
        assert refused and len(queued) <= 10
        assert "怎么称呼" in replies[refused[0]]  # offered the lead form instead
        with db.session_scope(stack.database_url) as session:
            assert handoffs.open_handoff(refused[0], session=session) is None
            assert session.query(handoffs.Handoff).filter(handoffs.Handoff.status == "queued").count() <= 20
    finally:
        with db.session_scope(stack.database_url) as session:  # leave the queue as other tests expect it
            session.query(handoffs.Handoff).filter(handoffs.Handoff.conversation_id.in_(senders)).delete(
                synchronize_session=False
            )


def test_f02_the_action_server_checks_the_slots_it_is_sent(stack):
    """F2: a tracker made up by a caller of the action server stores no lead with an invalid phone or forced consent."""
    name = f"伪造-{uuid.uuid4().hex[:8]}"
    body = {
        "next_action": "action_submit_lead",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": visitor("forged"),
            "events": [],
            "latest_message": {},
            "paused": False,
            "slots": {
                "lead_consent": "yes",
                "lead_name": name,
                "lead_phone": "not-a-phone",
                "lead_company": "Forged Ltd",
                "lead_region": "x",
                "lead_licence": "全网",
            },
        },
    }
    url = f"http://127.0.0.1:{stack.env['ACTION_PORT']}/webhook"
    # with Rasa's own token (the action server refuses anyone else): the slots are still checked
    auth = {"Authorization": f"Bearer {stack.env['ACTION_SERVER_TOKEN']}"}
    assert requests.post(url, json=body, headers=auth, timeout=30).status_code == 200
    body["tracker"]["slots"].update(lead_consent=True)
    assert requests.post(url, json=body, headers=auth, timeout=30).status_code == 200
    with db.session_scope(stack.database_url) as session:
        assert session.query(leads.Lead).filter(leads.Lead.name == name).count() == 0


def test_s02_twenty_unaddressable_senders_cannot_switch_handoff_off(stack):
    """S2: 「dos/1」…「dos/20」 asking for a human filled the queue with rows nobody could end or expire."""
    tag = uuid.uuid4().hex[:8]
    for i in range(20):
        body = {"sender": f"dos/{tag}/{i}", "message": "转人工"}
        response = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
        assert response.status_code == 400
    with db.session_scope(stack.database_url) as session:
        stuck = session.query(handoffs.Handoff).filter(handoffs.Handoff.conversation_id.like(f"dos/{tag}/%"))
        assert stuck.count() == 0
    sender = visitor("after-dos")
    try:
        assert "正在为您转接" in stack.text(sender, "转人工")  # a real visitor still reaches staff
    finally:
        with db.session_scope(stack.database_url) as session:
            session.query(handoffs.Handoff).filter(handoffs.Handoff.conversation_id == sender).delete(
                synchronize_session=False
            )
