"""Versioned knowledge (#15): every change of a fact is a numbered version with its full content.

Each existing fact gets version 1 from its current row (author ``migration 0004``);
the console edits recorded before (fact_edits) stay as they are and are shown as
the fact's earlier history. ``facts.version`` names the newest version;
``source_file``/``source_position`` say where the loader found the fact, for the
export back to data/facts (filled at the next load).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# the tables as this revision knows them (the models may change later)
facts = sa.table('facts', sa.column('id', sa.Integer), sa.column('key', sa.String), sa.column('question', sa.Text),
                 sa.column('answer', sa.Text), sa.column('sources', sa.JSON), sa.column('confidence', sa.String),
                 sa.column('confidence_note', sa.Text), sa.column('data', sa.JSON), sa.column('variants', sa.JSON),
                 sa.column('effective_date', sa.Date), sa.column('verified_date', sa.Date),
                 sa.column('version', sa.Integer))
corrections = sa.table('fact_corrections', sa.column('fact_id', sa.Integer), sa.column('position', sa.Integer),
                       sa.column('claim', sa.Text), sa.column('current', sa.Text), sa.column('since', sa.String))
edits = sa.table('fact_edits', sa.column('fact_key', sa.String))


def _content(row, corrs: list) -> dict:
    """What bot.store.facts.content_of gives for this row (revision 0004's version content)."""
    return {
        "question": row.question,
        "answer": row.answer,
        "sources": [{"document": s["document"], "article": s.get("article")} for s in row.sources or []],
        "confidence": row.confidence,
        "confidence_note": row.confidence_note,
        "variants": [{"when": dict(v["when"]), "answer": v["answer"]} for v in row.variants or []],
        "corrections": [{"claim": c.claim, "current": c.current, "since": c.since} for c in corrs],
        "data": row.data,
        "effective": row.effective_date.isoformat() if row.effective_date else None,
        "verified": row.verified_date.isoformat() if row.verified_date else None,
    }


def upgrade() -> None:
    versions = op.create_table('fact_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fact_key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('restored_from', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fact_key', 'version', name='uq_fact_versions_fact_key_version')
    )
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('source_file', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('source_position', sa.Integer(), nullable=True))

    bind = op.get_bind()
    by_fact: dict[int, list] = {}
    for corr in bind.execute(sa.select(corrections).order_by(corrections.c.fact_id, corrections.c.position)):
        by_fact.setdefault(corr.fact_id, []).append(corr)
    earlier = dict(bind.execute(sa.select(edits.c.fact_key, sa.func.count()).group_by(edits.c.fact_key)).all())
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = []
    for fact in bind.execute(sa.select(facts).order_by(facts.c.id)):
        reason = "state when versions began (migration 0004)"
        if earlier.get(fact.key):
            reason += f"; {earlier[fact.key]} earlier console edit(s) kept in the edit log"
        rows.append({"fact_key": fact.key, "version": 1, "content": _content(fact, by_fact.get(fact.id, [])),
                     "author": "migration 0004", "reason": reason, "restored_from": None, "created_at": now})
    if rows:
        op.bulk_insert(versions, rows)
    bind.execute(facts.update().values(version=1))


def downgrade() -> None:
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.drop_column('source_position')
        batch_op.drop_column('source_file')
        batch_op.drop_column('version')

    op.drop_table('fact_versions')
