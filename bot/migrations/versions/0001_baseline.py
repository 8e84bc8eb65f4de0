"""Baseline: the tables as create_all made them up to commit fd83708 (before migrations).

A database made by that code gets only the tables it lacks; its rows stay as they are.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made before migrations already has some of these tables (create_all made them as
    # they were used): create only the missing ones, keep every existing row.
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    if 'answer_feedback' not in existing:
        op.create_table('answer_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=64), nullable=False),
        sa.Column('message_text', sa.Text(), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_answer_feedback_conversation_id'), ['conversation_id'], unique=False)

    if 'api_tokens' not in existing:
        op.create_table('api_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash')
        )

    if 'collected_examples' not in existing:
        op.create_table('collected_examples',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('intent', sa.String(length=100), nullable=False),
        sa.Column('conversation_id', sa.String(length=255), nullable=True),
        sa.Column('collected_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('collected_examples', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_collected_examples_intent'), ['intent'], unique=False)

    if 'conversation_summaries' not in existing:
        op.create_table('conversation_summaries',
        sa.Column('conversation_id', sa.String(length=255), nullable=False),
        sa.Column('channel', sa.String(length=30), nullable=True),
        sa.Column('first_at', sa.DateTime(), nullable=True),
        sa.Column('last_at', sa.DateTime(), nullable=True),
        sa.Column('user_messages', sa.Integer(), nullable=False),
        sa.Column('fell_back', sa.Boolean(), nullable=False),
        sa.Column('low_confidence', sa.Boolean(), nullable=False),
        sa.Column('min_confidence', sa.Float(), nullable=True),
        sa.Column('preview', sa.Text(), nullable=True),
        sa.Column('search_text', sa.Text(), nullable=True),
        sa.Column('last_user_text', sa.Text(), nullable=True),
        sa.Column('unanswered', sa.Text(), nullable=True),
        sa.Column('topics', sa.Text(), nullable=False),
        sa.Column('reviewed', sa.Boolean(), nullable=False),
        sa.Column('tags', sa.Text(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('conversation_id')
        )
        with op.batch_alter_table('conversation_summaries', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_conversation_summaries_channel'), ['channel'], unique=False)
            batch_op.create_index(batch_op.f('ix_conversation_summaries_fell_back'), ['fell_back'], unique=False)
            batch_op.create_index(batch_op.f('ix_conversation_summaries_last_at'), ['last_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_conversation_summaries_low_confidence'), ['low_confidence'], unique=False)
            batch_op.create_index(batch_op.f('ix_conversation_summaries_reviewed'), ['reviewed'], unique=False)

    if 'conversation_watermark' not in existing:
        op.create_table('conversation_watermark',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name')
        )

    if 'fact_edits' not in existing:
        op.create_table('fact_edits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fact_key', sa.String(length=100), nullable=False),
        sa.Column('editor', sa.String(length=100), nullable=False),
        sa.Column('edited_at', sa.DateTime(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('after', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('fact_edits', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_fact_edits_fact_key'), ['fact_key'], unique=False)

    if 'facts' not in existing:
        op.create_table('facts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('topic', sa.String(length=50), nullable=False),
        sa.Column('intent', sa.String(length=100), nullable=True),
        sa.Column('question', sa.Text(), nullable=True),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('sources', sa.JSON(), nullable=False),
        sa.Column('confidence', sa.String(length=1), nullable=False),
        sa.Column('confidence_note', sa.Text(), nullable=True),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('variants', sa.JSON(), nullable=True),
        sa.Column('effective_date', sa.Date(), nullable=True),
        sa.Column('verified_date', sa.Date(), nullable=False),
        sa.Column('file_hash', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('intent'),
        sa.UniqueConstraint('key')
        )
        with op.batch_alter_table('facts', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_facts_topic'), ['topic'], unique=False)

    if 'handoffs' not in existing:
        op.create_table('handoffs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=100), nullable=False),
        sa.Column('channel', sa.String(length=30), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('agent', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('handoffs', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_handoffs_conversation_id'), ['conversation_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_handoffs_status'), ['status'], unique=False)

    if 'leads' not in existing:
        op.create_table('leads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=100), nullable=False),
        sa.Column('channel', sa.String(length=30), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=30), nullable=False),
        sa.Column('company', sa.String(length=200), nullable=True),
        sa.Column('region', sa.String(length=100), nullable=True),
        sa.Column('licence', sa.String(length=10), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('consent', sa.Boolean(), nullable=False),
        sa.Column('topics', sa.JSON(), nullable=True),
        sa.Column('eligibility', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('assignee', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('leads', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_leads_conversation_id'), ['conversation_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_leads_created_at'), ['created_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_leads_phone'), ['phone'], unique=False)
            batch_op.create_index(batch_op.f('ix_leads_status'), ['status'], unique=False)

    if 'staff_users' not in existing:
        op.create_table('staff_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('password_hash', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name')
        )

    if 'wechat_choices' not in existing:
        op.create_table('wechat_choices',
        sa.Column('openid', sa.String(length=100), nullable=False),
        sa.Column('payloads', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('openid')
        )

    if 'wechat_processed' not in existing:
        op.create_table('wechat_processed',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key')
        )
        with op.batch_alter_table('wechat_processed', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_wechat_processed_created_at'), ['created_at'], unique=False)

    if 'wechat_shared' not in existing:
        op.create_table('wechat_shared',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('key')
        )

    if 'fact_corrections' not in existing:
        op.create_table('fact_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fact_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('claim', sa.Text(), nullable=False),
        sa.Column('current', sa.Text(), nullable=False),
        sa.Column('since', sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(['fact_id'], ['facts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('fact_corrections', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_fact_corrections_fact_id'), ['fact_id'], unique=False)

    if 'notification_outbox' not in existing:
        op.create_table('notification_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('notifier', sa.String(length=20), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_notification_outbox_delivered_at'), ['delivered_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_notification_outbox_lead_id'), ['lead_id'], unique=False)
            batch_op.create_index(batch_op.f('ix_notification_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_outbox_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_notification_outbox_lead_id'))
        batch_op.drop_index(batch_op.f('ix_notification_outbox_delivered_at'))

    op.drop_table('notification_outbox')
    with op.batch_alter_table('fact_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fact_corrections_fact_id'))

    op.drop_table('fact_corrections')
    op.drop_table('wechat_shared')
    with op.batch_alter_table('wechat_processed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_processed_created_at'))

    op.drop_table('wechat_processed')
    op.drop_table('wechat_choices')
    op.drop_table('staff_users')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_status'))
        batch_op.drop_index(batch_op.f('ix_leads_phone'))
        batch_op.drop_index(batch_op.f('ix_leads_created_at'))
        batch_op.drop_index(batch_op.f('ix_leads_conversation_id'))

    op.drop_table('leads')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoffs_status'))
        batch_op.drop_index(batch_op.f('ix_handoffs_conversation_id'))

    op.drop_table('handoffs')
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facts_topic'))

    op.drop_table('facts')
    with op.batch_alter_table('fact_edits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fact_edits_fact_key'))

    op.drop_table('fact_edits')
    op.drop_table('conversation_watermark')
    with op.batch_alter_table('conversation_summaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_summaries_reviewed'))
        batch_op.drop_index(batch_op.f('ix_conversation_summaries_low_confidence'))
        batch_op.drop_index(batch_op.f('ix_conversation_summaries_last_at'))
        batch_op.drop_index(batch_op.f('ix_conversation_summaries_fell_back'))
        batch_op.drop_index(batch_op.f('ix_conversation_summaries_channel'))

    op.drop_table('conversation_summaries')
    with op.batch_alter_table('collected_examples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collected_examples_intent'))

    op.drop_table('collected_examples')
    op.drop_table('api_tokens')
    with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_feedback_conversation_id'))

    op.drop_table('answer_feedback')
