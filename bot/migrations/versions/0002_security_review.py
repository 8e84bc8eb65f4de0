"""Security review (#12): revocable staff sessions, API-token roles and revocation, possible duplicate
leads and the visitor's own note beside the staff note, the WeChat replay guard.

Existing API tokens become agents; existing lead notes stay the staff's notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_requests',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('wechat_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_requests_seen_at'), ['seen_at'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=10), server_default='agent', nullable=False))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visitor_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_duplicate_of'), ['duplicate_of'], unique=False)
        batch_op.create_foreign_key('fk_leads_duplicate_of_leads', 'leads', ['duplicate_of'], ['id'])

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_constraint('fk_leads_duplicate_of_leads', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_leads_duplicate_of'))
        batch_op.drop_column('duplicate_of')
        batch_op.drop_column('visitor_note')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('role')

    with op.batch_alter_table('wechat_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_requests_seen_at'))

    op.drop_table('wechat_requests')
