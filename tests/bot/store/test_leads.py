"""Leads in the store (bot/store/leads.py): phone rules, dedupe within 24 h, what is queued for staff."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import db
from bot.store import leads
from tests.support.leads import LEAD


@pytest.mark.parametrize(
    "raw, phone",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 13812345678", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("0755-1234567", "0755-1234567"),
    ],
)
def test_valid_phones(raw, phone):
    assert leads.normalize_phone(raw) == phone


@pytest.mark.parametrize("raw", ["12345", "23812345678", "1381234567", "abc", "138123456789", "12-3456789"])
def test_invalid_phones(raw):
    assert leads.normalize_phone(raw) is None


def test_phone_is_masked():
    assert leads.mask_phone("13812345678") == "138****5678"


def test_same_phone_within_24_hours_updates_the_lead(url):
    now = dt.datetime(2026, 11, 29, 10, 0)
    with db.session_scope(url) as session:
        first, created = leads.save_lead(LEAD, session=session, now=now)
        assert created
    with db.session_scope(url) as session:
        again, created = leads.save_lead(
            {**LEAD, "company": "新公司", "topics": ["materials"]}, session=session, now=now + dt.timedelta(hours=23)
        )
        assert not created and again.id == first.id
        assert again.company == "新公司" and again.topics == ["capital", "materials"]
    with db.session_scope(url) as session:
        later, created = leads.save_lead(LEAD, session=session, now=now + dt.timedelta(hours=25))
        assert created and later.id != first.id
        assert len(leads.list_leads(session=session)) == 2
        events = [n.event for n in session.query(leads.Notification).order_by(leads.Notification.id)]
        assert events == ["lead_created", "lead_updated", "lead_created"]


def test_f14_same_phone_from_another_conversation_never_overwrites(url):
    """F14: a second form with a known phone from another conversation leaves the lead alone; a new lead links to it."""
    with db.session_scope(url) as session:
        first, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
    with db.session_scope(url) as session:
        forged, created = leads.save_lead(
            {
                **LEAD,
                "conversation_id": "attacker",
                "name": "冒名者",
                "company": "攻击者写入的公司",
                "visitor_note": "改掉",
            },
            session=session,
        )
        assert created and forged.id != first.id and forged.duplicate_of == first.id
    with db.session_scope(url) as session:
        original = session.get(leads.Lead, first.id)
        assert (original.name, original.company, original.conversation_id, original.visitor_note) == (
            "张先生",
            "某某科技",
            "c1",
            "下午方便",
        )
        third, created = leads.save_lead({**LEAD, "conversation_id": "third"}, session=session)
        assert created and third.duplicate_of == first.id  # every repeat points at the first lead


def test_n09_the_visitors_note_never_replaces_the_staff_note(url):
    """N9: staff notes live in their own column; a repeated form in the same conversation keeps them."""
    with db.session_scope(url) as session:
        lead, _ = leads.save_lead({**LEAD, "visitor_note": "下午方便"}, session=session)
        lead.note = "已电话，客户周五回复"  # what staff wrote in the console
    with db.session_scope(url) as session:
        again, created = leads.save_lead({**LEAD, "visitor_note": "改成上午", "note": "访客写的"}, session=session)
        assert not created and again.id == lead.id
        assert again.note == "已电话，客户周五回复" and again.visitor_note == "改成上午"
        assert again.as_dict()["visitor_note"] == "改成上午"


def test_f16_notifications_are_limited_per_phone(url):
    """F16: one phone number cannot make staff notifications pile up; the leads are still all stored."""
    with db.session_scope(url) as session:
        for i in range(6):
            leads.save_lead({**LEAD, "conversation_id": f"flood-{i}"}, session=session)
    with db.session_scope(url) as session:
        assert session.query(leads.Lead).count() == 6
        rows = session.query(leads.Notification).all()
        assert len({r.lead_id for r in rows}) == leads.NOTIFY_PER_PHONE
        assert len(rows) == leads.NOTIFY_PER_PHONE  # one row per lead: the notifier fans it out
        # another phone is not affected
        leads.save_lead({**LEAD, "phone": "13900000001", "conversation_id": "other"}, session=session)
        assert session.query(leads.Notification).count() == leads.NOTIFY_PER_PHONE + 1


def test_f16_notifications_have_an_hourly_ceiling(url):
    """F16: many phones in one hour: past the ceiling leads are stored and listed, but not pushed to staff."""
    now = dt.datetime(2026, 11, 29, 10, 0)
    with db.session_scope(url) as session:
        for i in range(5):
            leads.save_lead(
                {**LEAD, "conversation_id": f"c{i}", "phone": f"1390000000{i}"},
                session=session,
                now=now,
                hourly_limit=3,
            )
        assert session.query(leads.Notification).count() == 3
        leads.save_lead(
            {**LEAD, "conversation_id": "later", "phone": "13900000009"},
            session=session,
            now=now + dt.timedelta(minutes=61),
            hourly_limit=3,
        )
        assert session.query(leads.Notification).count() == 4
        assert session.query(leads.Lead).count() == 6
