"""runbook runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 15:50:00
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('runbook_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('runbook_id', sa.String(length=100), nullable=False),
    sa.Column('runbook_name', sa.String(length=300), nullable=False),
    sa.Column('snapshot_json', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('rollback_cause', sa.String(length=16), nullable=True),
    sa.Column('records_json', sa.Text(), nullable=False),
    sa.Column('holder_aad', sa.String(length=100), nullable=True),
    sa.Column('holder_name', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('cards_json', sa.Text(), nullable=False),
    sa.Column('started_by_name', sa.String(length=200), nullable=False),
    sa.Column('started_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runbook_run', schema=None) as batch_op:
        batch_op.create_index('ix_runbook_run_incident', ['incident_id'], unique=False)
        # One unfinished run per (incident, runbook), settled by the database.
        batch_op.create_index('uq_runbook_run_unfinished', ['incident_id', 'runbook_id'], unique=True,
                              sqlite_where=sa.text("status = 'running'"),
                              postgresql_where=sa.text("status = 'running'"))


def downgrade() -> None:
    with op.batch_alter_table('runbook_run', schema=None) as batch_op:
        batch_op.drop_index('uq_runbook_run_unfinished', sqlite_where=sa.text("status = 'running'"),
                            postgresql_where=sa.text("status = 'running'"))
        batch_op.drop_index('ix_runbook_run_incident')
    op.drop_table('runbook_run')
