"""A correction says what kind of claim it corrects: an outdated rule or a misconception.

Existing corrections were all rendered as outdated rules; they stay ``outdated`` until
their facts file says otherwise (the next load).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fact_corrections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='outdated'))


def downgrade() -> None:
    with op.batch_alter_table('fact_corrections', schema=None) as batch_op:
        batch_op.drop_column('kind')
