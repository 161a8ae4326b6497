"""follow-up items (break-glass and others) and the regulatory breach clock

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 15:45:00
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0012'
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'follow_up_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('opened_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('opened_by_aad', sa.String(length=100), nullable=False),
        sa.Column('opened_by_name', sa.String(length=200), nullable=False),
        sa.Column('closed_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_by_aad', sa.String(length=100), nullable=True),
        sa.Column('closed_by_name', sa.String(length=200), nullable=True),
        sa.Column('close_note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_follow_up_item_incident', 'follow_up_item', ['incident_id'], unique=False)
    op.create_index('ix_follow_up_item_closed_at', 'follow_up_item', ['closed_at'], unique=False)
    op.create_table(
        'breach_mark',
        sa.Column('incident_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('marked_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('marked_by_aad', sa.String(length=100), nullable=False),
        sa.Column('marked_by_name', sa.String(length=200), nullable=False),
        sa.Column('decision', sa.String(length=20), nullable=True),
        sa.Column('decision_reason', sa.Text(), nullable=True),
        sa.Column('decided_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('decided_by_aad', sa.String(length=100), nullable=True),
        sa.Column('decided_by_name', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('incident_id'),
    )
    op.create_table(
        'breach_deadline',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('duty_id', sa.String(length=100), nullable=False),
        sa.Column('deadline_id', sa.String(length=100), nullable=False),
        sa.Column('duty_name', sa.String(length=300), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('owner_email', sa.String(length=320), nullable=False),
        sa.Column('remind_before', sa.String(length=200), nullable=False),
        sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('next_remind_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('met_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('met_by_aad', sa.String(length=100), nullable=True),
        sa.Column('met_by_name', sa.String(length=200), nullable=True),
        sa.Column('met_kind', sa.String(length=20), nullable=True),
        sa.Column('met_note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('incident_id', 'duty_id', 'deadline_id', name='uq_breach_deadline'),
    )
    op.create_index('ix_breach_deadline_next_remind_at', 'breach_deadline', ['next_remind_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_breach_deadline_next_remind_at', table_name='breach_deadline')
    op.drop_table('breach_deadline')
    op.drop_table('breach_mark')
    op.drop_index('ix_follow_up_item_closed_at', table_name='follow_up_item')
    op.drop_index('ix_follow_up_item_incident', table_name='follow_up_item')
    op.drop_table('follow_up_item')
