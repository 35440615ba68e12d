"""the returning guest: a session's purpose (check-in or re-verification), each attempt's kind; webhook endpoints
and the outbox of signed events

Revision ID: 0670_returning_guest
Revises: 0500_kiosk_state
Create Date: 2026-12-04 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0670_returning_guest'
down_revision = '0640_staff_password_reset'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('checkin_sessions') as batch:
        batch.add_column(sa.Column('purpose', sa.String(16), nullable=False, server_default='check-in'))
    with op.batch_alter_table('checkin_attempts') as batch:
        batch.add_column(sa.Column('kind', sa.String(16), nullable=False, server_default='check-in'))
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('url', sa.String(500), nullable=False),
        sa.Column('secret', sa.String(200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('removed_at', sa.DateTime(), nullable=True),
        sa.Column('last_status', sa.String(64), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'webhook_outbox',
        sa.Column('id', sa.String(40), primary_key=True),
        sa.Column('endpoint_id', sa.Integer(), sa.ForeignKey('webhook_endpoints.id'), nullable=False),
        sa.Column('event_type', sa.String(32), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.Column('failed_at', sa.DateTime(), nullable=True),
        sa.Column('last_status', sa.String(64), nullable=True),
    )
    op.create_index('ix_webhook_outbox_endpoint_id', 'webhook_outbox', ['endpoint_id'])
    op.create_index('ix_webhook_outbox_next_attempt_at', 'webhook_outbox', ['next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_webhook_outbox_next_attempt_at', 'webhook_outbox')
    op.drop_index('ix_webhook_outbox_endpoint_id', 'webhook_outbox')
    op.drop_table('webhook_outbox')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('checkin_attempts') as batch:
        batch.drop_column('kind')
    with op.batch_alter_table('checkin_sessions') as batch:
        batch.drop_column('purpose')
