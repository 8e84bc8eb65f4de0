"""The 微信客服 (WeCom KF) channel: sync cursors per KF account, durable message de-duplication, visitors
with the scene that brought them, delivery problems for staff; leads remember their scene.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wecom_kf_accounts',
    sa.Column('open_kfid', sa.String(length=64), nullable=False),
    sa.Column('cursor', sa.String(length=256), nullable=True),
    sa.Column('sync_token', sa.String(length=256), nullable=True),
    sa.Column('token_at', sa.Float(), nullable=True),
    sa.Column('skip_before', sa.Float(), nullable=False),
    sa.Column('pending', sa.Boolean(), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('open_kfid')
    )
    op.create_table('wecom_kf_messages',
    sa.Column('open_kfid', sa.String(length=64), nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.Float(), nullable=True),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('open_kfid', 'msgid')
    )
    with op.batch_alter_table('wecom_kf_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_kf_messages_created_at'), ['created_at'], unique=False)

    op.create_table('wecom_kf_problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_userid', sa.String(length=64), nullable=False),
    sa.Column('open_kfid', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('code', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wecom_kf_problems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_kf_problems_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wecom_kf_problems_external_userid'), ['external_userid'], unique=False)

    op.create_table('wecom_kf_visitors',
    sa.Column('external_userid', sa.String(length=64), nullable=False),
    sa.Column('open_kfid', sa.String(length=64), nullable=False),
    sa.Column('scene', sa.String(length=64), nullable=True),
    sa.Column('scene_param', sa.String(length=255), nullable=True),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('servicer', sa.String(length=64), nullable=True),
    sa.Column('last_customer_at', sa.Float(), nullable=True),
    sa.Column('sent_since', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('external_userid')
    )
    with op.batch_alter_table('wecom_kf_visitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_kf_visitors_scene'), ['scene'], unique=False)
        batch_op.create_index(batch_op.f('ix_wecom_kf_visitors_updated_at'), ['updated_at'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scene', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('scene_param', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_scene'), ['scene'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_scene'))
        batch_op.drop_column('scene_param')
        batch_op.drop_column('scene')

    with op.batch_alter_table('wecom_kf_visitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wecom_kf_visitors_updated_at'))
        batch_op.drop_index(batch_op.f('ix_wecom_kf_visitors_scene'))

    op.drop_table('wecom_kf_visitors')
    with op.batch_alter_table('wecom_kf_problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wecom_kf_problems_external_userid'))
        batch_op.drop_index(batch_op.f('ix_wecom_kf_problems_created_at'))

    op.drop_table('wecom_kf_problems')
    with op.batch_alter_table('wecom_kf_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wecom_kf_messages_created_at'))

    op.drop_table('wecom_kf_messages')
    op.drop_table('wecom_kf_accounts')
