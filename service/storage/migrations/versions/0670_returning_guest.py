"""the returning guest: a session's purpose (check-in or re-verification) and each attempt's kind

Revision ID: 0670_returning_guest
Revises: 0500_kiosk_state
Create Date: 2026-12-04 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0670_returning_guest'
down_revision = '0500_kiosk_state'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkin_sessions') as batch:
        batch.add_column(sa.Column('purpose', sa.String(16), nullable=False, server_default='check-in'))
    with op.batch_alter_table('checkin_attempts') as batch:
        batch.add_column(sa.Column('kind', sa.String(16), nullable=False, server_default='check-in'))


def downgrade() -> None:
    with op.batch_alter_table('checkin_attempts') as batch:
        batch.drop_column('kind')
    with op.batch_alter_table('checkin_sessions') as batch:
        batch.drop_column('purpose')
