"""The notifier decides the channels: an outbox row records which channels already have it.

Rows queued from now on say ``notifier = 'lead'`` (every channel the notifier
has configured); older rows keep naming one channel and are delivered as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_to', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_column('delivered_to')
