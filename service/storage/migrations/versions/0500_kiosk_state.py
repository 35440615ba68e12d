"""each kiosk's last reported state and error code (the Kiosks page's "out of order")

Revision ID: 0500_kiosk_state
Revises: 0400_consent_and_sealed_totp
Create Date: 2026-12-04 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0500_kiosk_state'
down_revision = '0400_consent_and_sealed_totp'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('kiosks') as batch:
        batch.add_column(sa.Column('state', sa.String(16), nullable=True))
        batch.add_column(sa.Column('last_error', sa.String(64), nullable=True))
        batch.add_column(sa.Column('last_error_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kiosks') as batch:
        batch.drop_column('last_error_at')
        batch.drop_column('last_error')
        batch.drop_column('state')
