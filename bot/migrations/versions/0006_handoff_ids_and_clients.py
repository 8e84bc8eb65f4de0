"""Lead and handoff conversation ids as long as Rasa's own (255); a handoff remembers its visitor's address key.

``String(100)`` made PostgreSQL refuse the lead or handoff of a longer sender (SQLite never checked), and
``handoffs.client`` (a key of the address, never the address) limits the places one address holds in the queue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_handoffs_client'), ['client'], unique=False)
    for table in ('leads', 'handoffs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'conversation_id', existing_type=sa.String(length=100), type_=sa.String(length=255), existing_nullable=False
            )


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoffs_client'))
        batch_op.drop_column('client')
    for table in ('leads', 'handoffs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'conversation_id', existing_type=sa.String(length=255), type_=sa.String(length=100), existing_nullable=False
            )
