"""signed audit checkpoints (the chain's length and head, signed with the receipt key)

Revision ID: 0630_audit_checkpoints
Revises: 0500_kiosk_state
Create Date: 2026-12-04 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0630_audit_checkpoints'
down_revision = '0500_kiosk_state'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_checkpoints',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('head', sa.String(64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
