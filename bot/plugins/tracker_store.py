"""Rasa's SQL tracker store with the trackers of recent conversations kept in memory between turns.

Rasa's ``SQLTrackerStore`` reads every event of a conversation's session and
replays them into a new tracker on every turn, then counts the stored events
again to know which to write: the cost of a turn grows with the conversation
(issue #24). Here a tracker saved by this process is kept, and handed back at
the next turn if the conversation's rows are still the ones it saved: the
check is one indexed query for the number of the conversation's rows and the
highest row id. Any change by anyone else (another instance behind Redis, the
HTTP API of another instance, retention deleting the conversation) changes
that pair, and the tracker is read from the database as before. Every event
is still written to the database, in the same rows as Rasa writes them.

Writes run in a thread, so that the server goes on with other conversations
while a commit waits for the disk. On SQLite the store keeps its connections open (Rasa opens one per query, and
SQLite reads the schema again each time) and writes ahead to a log (WAL): a
commit then syncs one file once instead of the database and its journal, and
the console reading transcripts no longer blocks a turn's write. Every commit
is still synced to disk (``synchronous`` stays FULL).

A kept tracker is handed out once (it is taken out of the cache): the turn
that holds it mutates it, and only its ``save`` puts it back. A turn that
fails before saving leaves nothing behind, and the next reads the database.
The cache is bounded by the number of events it holds (``TRACKER_CACHE_EVENTS``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import operator
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Text

import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.nlu.constants import INTENT_NAME_KEY

if TYPE_CHECKING:
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

DEFAULT_CACHE_EVENTS = 20_000  # about 40 MB: a few hundred long conversations, thousands of short ones
SQLITE_CONNECTIONS = 2
CHECKED_OUT = 1_000  # trackers handed out and not yet saved, remembered at most (the rest are read again)


@dataclass(frozen=True)
class Version:
    """What the database holds of one conversation: its number of rows and its highest row id."""

    rows: int
    last_id: int


@dataclass
class _Kept:
    tracker: DialogueStateTracker
    version: Version
    stored: int  # how many of the tracker's events are rows already


class TrackerCache:
    """Trackers by conversation, least recently saved dropped first once they hold over ``max_events`` events."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.events = 0
        self._kept: OrderedDict[str, _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, sender_id: str, version: Version) -> Optional[_Kept]:
        """Remove and return ``sender_id``'s tracker if it was saved at ``version``; drop it if not."""
        kept = self._kept.pop(sender_id, None)
        if kept is None:
            return None
        self.events -= len(kept.tracker.events)
        return kept if kept.version == version else None

    def put(self, sender_id: str, kept: _Kept) -> None:
        """Keep ``kept`` as ``sender_id``'s tracker, dropping the oldest while over the bound."""
        self.discard(sender_id)
        size = len(kept.tracker.events)
        if size > self.max_events:
            return
        self._kept[sender_id] = kept
        self.events += size
        while self.events > self.max_events:
            _, dropped = self._kept.popitem(last=False)
            self.events -= len(dropped.tracker.events)

    def discard(self, sender_id: str) -> None:
        kept = self._kept.pop(sender_id, None)
        if kept is not None:
            self.events -= len(kept.tracker.events)


def sqlite_engine(url: Any) -> sa.engine.Engine:
    """An engine for a SQLite file that keeps its connections, in write-ahead-log mode."""
    engine = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        pool_size=SQLITE_CONNECTIONS,
        # a pooled connection goes to one thread at a time; a writer waits up to 30 s for another to commit
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @sa.event.listens_for(engine, "connect")
    def write_ahead(connection: Any, record: Any) -> None:  # noqa: ARG001 - SQLAlchemy's listener signature
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


class CachedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that hands a conversation's tracker from one turn to the next without reloading it."""

    engine: Any  # set by SQLTrackerStore.__init__ (untyped)

    def __init__(self, *args: Any, cache_events: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bot import settings as settings_module

        limit = settings_module.current().tracker_cache_events if cache_events is None else cache_events
        self.cache = TrackerCache(limit)
        # trackers handed out, by conversation: which object, at which version, with how many stored events
        self._out: OrderedDict[str, tuple[weakref.ref, Version, int]] = OrderedDict()
        if self.engine.dialect.name == "sqlite":
            self.engine = sqlite_engine(self.engine.url)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        table = self.SQLEvent.__table__
        # built once: SQLAlchemy then finds the compiled statement by a cheap cache key
        self._version_statement = sa.select(sa.func.count(table.c.id), sa.func.max(table.c.id)).where(
            table.c.sender_id == sa.bindparam("sender_id")
        )

    def _version(self, session: Session, sender_id: Text) -> Version:
        rows, last_id = session.execute(self._version_statement, {"sender_id": sender_id}).one()
        return Version(int(rows), int(last_id or 0))

    def _hand_out(self, sender_id: Text, tracker: DialogueStateTracker, version: Version, stored: int) -> None:
        self._out[sender_id] = (weakref.ref(tracker), version, stored)
        self._out.move_to_end(sender_id)
        while len(self._out) > CHECKED_OUT:
            self._out.popitem(last=False)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The tracker of the conversation's latest session: the one this process saved last, if still current."""
        if self.cache.max_events <= 0:
            return await super().retrieve(sender_id)
        # read before the events: rows written in between make the save below fall back to Rasa's own
        with self.session_scope() as session:
            version = self._version(session, sender_id)
        kept = self.cache.take(sender_id, version)
        if kept is not None:
            self._hand_out(sender_id, kept.tracker, version, kept.stored)
            return kept.tracker
        tracker = await super().retrieve(sender_id)
        if tracker is not None:
            self._hand_out(sender_id, tracker, version, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the tracker's new events as Rasa does, and keep the tracker for the conversation's next turn."""
        sender_id = tracker.sender_id
        out = self._out.pop(sender_id, None)
        self.cache.discard(sender_id)
        if out is None or not operator.is_(out[0](), tracker):  # (a call, not `is`: mypy would narrow tracker)
            await super().save(tracker)
            return
        version, stored = out[1], out[2]
        await self.stream_events(tracker)
        new = list(itertools.islice(tracker.events, stored, None))
        rows = [self._row(sender_id, event) for event in new]
        # in a thread: the commit waits for the disk, and meanwhile the server goes on with other conversations
        # (this one's lock is held until the turn, and so this save, is over)
        after = await asyncio.to_thread(self._write, sender_id, version, rows)
        if after is None:  # someone else wrote to this conversation since it was read: Rasa's save decides
            await super().save(tracker)
            return
        # a new session's tracker is what Rasa reads back from its start on: read it from the database then
        if stored and any(isinstance(event, SessionStarted) for event in new):
            return
        if after.rows == version.rows + len(new) and (after.last_id > version.last_id or not new):
            self.cache.put(sender_id, _Kept(tracker, after, len(tracker.events)))

    def _write(self, sender_id: Text, version: Version, rows: list) -> Optional[Version]:
        """Add ``rows`` if the conversation is still at ``version``; return its version after, None if it was not."""
        with self.session_scope() as session:
            if self._version(session, sender_id) != version:
                return None
            session.add_all(rows)
            session.commit()
            return self._version(session, sender_id)

    def _row(self, sender_id: Text, event: Any) -> Any:
        """The row Rasa's ``SQLTrackerStore.save`` writes for ``event``."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )
