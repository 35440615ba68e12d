"""staff accounts: a flag that forces a password change at the next sign-in (set by an admin's password reset)

Revision ID: 0640_staff_password_reset
Revises: 0500_kiosk_state
Create Date: 2026-12-04 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0640_staff_password_reset'
down_revision = '0630_audit_checkpoints'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.add_column(
            sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('must_change_password')
