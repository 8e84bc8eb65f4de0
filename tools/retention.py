"""Purge conversations older than N days from the tracker store, keeping leads.

Usage: ``python -m tools.retention --days 180 [--dry-run]``.

A conversation is purged when its newest event is older than the cut-off:
its events, its console summary, its answer feedback, the messages staff
collected from it for training, and its WeChat state (the numbered options
last offered; de-duplication rows, which are all older than a day by then)
go. Leads (with their conversation id) and handoff records stay, as the
business needs them.
"""

from __future__ import annotations

import argparse
import sys
import time

import sqlalchemy as sa

from bot import db, settings
from bot.store import conversations
from bot.store import wechat as wechat_store
from bot.store import wecom_kf as wecom_kf_store


def stale_conversations(tracker_url: str, days: int, now: float | None = None) -> list[str]:
    cutoff = (now or time.time()) - days * 86400
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker_url))
    with db.get_engine(tracker_url).connect() as connection:
        rows = connection.execute(
            sa.select(events.c.sender_id).group_by(events.c.sender_id).having(sa.func.max(events.c.timestamp) < cutoff)
        ).fetchall()
    return [row.sender_id for row in rows]


def purge(tracker_url: str, database_url: str, days: int, dry_run: bool = False) -> int:
    """Delete old conversations; return how many."""
    try:
        stale = stale_conversations(tracker_url, days)
    except sa.exc.NoSuchTableError:
        return 0
    if dry_run or not stale:
        return len(stale)
    events = sa.Table("events", sa.MetaData(), autoload_with=db.get_engine(tracker_url))
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        with db.get_engine(tracker_url).begin() as connection:
            connection.execute(events.delete().where(events.c.sender_id.in_(chunk)))
        with db.session_scope(database_url) as session:
            for model in (conversations.ConversationSummary, conversations.Feedback, conversations.CollectedExample):
                column = model.conversation_id
                session.execute(sa.delete(model).where(column.in_(chunk)))
        wechat_store.forget(database_url, chunk)
        wecom_kf_store.forget(database_url, chunk)
    return len(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, required=True, help="keep conversations active in the last N days")
    parser.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    args = parser.parse_args(argv)
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    config = settings.load()
    count = purge(config.tracker_store_url, config.database_url, args.days, args.dry_run)
    print(
        f"{'would purge' if args.dry_run else 'purged'} {count} conversation(s) older than {args.days} days; leads kept"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
