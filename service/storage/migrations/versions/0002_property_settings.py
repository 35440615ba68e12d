"""property settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:04:27.798731
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('property_settings',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_property_settings'))
    )


def downgrade() -> None:
    op.drop_table('property_settings')
