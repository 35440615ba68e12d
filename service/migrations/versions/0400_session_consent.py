"""the guest's consent answer on each check-in session

Revision ID: 0400_session_consent
Revises: 0300_session_challenge
Create Date: 2026-11-23 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0400_session_consent'
down_revision = '0300_session_challenge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('consent_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.drop_column('consent_at')
        batch_op.drop_column('consent_version')
        batch_op.drop_column('consent')
