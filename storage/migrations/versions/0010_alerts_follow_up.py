"""alert dedup keys up to 1,024 characters (the parsers hash longer ones); need-to-know incidents

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 14:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('need_to_know', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('dedup_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=1024), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('need_to_know')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('dedup_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=1024),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=500), existing_nullable=False)
