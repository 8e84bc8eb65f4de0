"""Lead and handoff conversation ids as long as Rasa's own (255): a REST sender may be 128 characters.

``String(100)`` made PostgreSQL refuse the lead or handoff of a longer sender (SQLite never checked).

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
    for table in ('leads', 'handoffs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'conversation_id', existing_type=sa.String(length=100), type_=sa.String(length=255), existing_nullable=False
            )


def downgrade() -> None:
    for table in ('leads', 'handoffs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'conversation_id', existing_type=sa.String(length=255), type_=sa.String(length=100), existing_nullable=False
            )
