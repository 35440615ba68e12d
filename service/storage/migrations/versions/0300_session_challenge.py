"""the active liveness challenge chosen for each check-in session

Revision ID: 0300_session_challenge
Revises: 0200_staff
Create Date: 2026-11-23 10:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0300_session_challenge'
down_revision = '0200_staff'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('challenge', sa.String(length=16), server_default='none', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.drop_column('challenge')
