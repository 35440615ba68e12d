"""staff accounts and login failures for the panel

Revision ID: 0200_staff
Revises: 0100_lockout_audit
Create Date: 2026-11-23 09:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0200_staff'
down_revision = '0100_lockout_audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_username'))
    )
    op.create_table('staff_login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_failures'))
    )
    op.create_index(op.f('ix_staff_login_failures_source'), 'staff_login_failures', ['source'], unique=False)
    op.create_index(op.f('ix_staff_login_failures_at'), 'staff_login_failures', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_staff_login_failures_at'), table_name='staff_login_failures')
    op.drop_index(op.f('ix_staff_login_failures_source'), table_name='staff_login_failures')
    op.drop_table('staff_login_failures')
    op.drop_table('staff')
