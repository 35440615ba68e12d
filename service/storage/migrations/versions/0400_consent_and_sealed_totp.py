"""the guest's consent answer on each check-in session; staff TOTP secrets sealed at rest

Revision ID: 0400_consent_and_sealed_totp
Revises: 0300_session_challenge
Create Date: 2026-11-23 11:40:00

Sealing existing TOTP secrets needs the service's key folder: ``service.migrate.upgrade``
passes it (``lethe serve`` and every command that prepares the instance do). A database
with clear secrets and no key folder given is refused rather than left in clear.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context, op

if TYPE_CHECKING:
    from service.keyring import Keyring

revision = '0400_consent_and_sealed_totp'
down_revision = '0300_session_challenge'
branch_labels = None
depends_on = None

staff = sa.table('staff', sa.column('id', sa.String), sa.column('totp_secret', sa.String))


def _keyring() -> "Keyring":
    from service.keyring import load_or_create

    key_dir = context.config.attributes.get('key_dir')
    if key_dir is None:
        raise RuntimeError(
            'staff TOTP secrets must be sealed with the service keys: migrate with the key folder '
            '(lethe serve, or service.migrate.upgrade(url, key_dir=...))'
        )
    return load_or_create(Path(key_dir))


def upgrade() -> None:
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('consent_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('consent_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=160), existing_nullable=True
        )
    from service.keyring import staff_secrets as totp_vault

    bind = op.get_bind()
    rows = bind.execute(sa.select(staff.c.id, staff.c.totp_secret).where(staff.c.totp_secret.is_not(None))).all()
    clear = [row for row in rows if not totp_vault.is_sealed(row.totp_secret)]
    if clear:
        ring = _keyring()
        for row in clear:
            sealed = totp_vault.seal(ring, row.id, row.totp_secret)
            bind.execute(sa.update(staff).where(staff.c.id == row.id).values(totp_secret=sealed))


def downgrade() -> None:
    from service.keyring import staff_secrets as totp_vault

    bind = op.get_bind()
    rows = bind.execute(sa.select(staff.c.id, staff.c.totp_secret).where(staff.c.totp_secret.is_not(None))).all()
    if rows:
        ring = _keyring()
        for row in rows:
            if totp_vault.is_sealed(row.totp_secret):
                opened = totp_vault.open_secret(ring, row.id, row.totp_secret)
                bind.execute(sa.update(staff).where(staff.c.id == row.id).values(totp_secret=opened))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=160), type_=sa.String(length=64), existing_nullable=True
        )
    with op.batch_alter_table('checkin_sessions', schema=None) as batch_op:
        batch_op.drop_column('consent_at')
        batch_op.drop_column('consent_version')
        batch_op.drop_column('consent')
