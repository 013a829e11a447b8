"""operator staff accounts (admin pages) and audit-log indexes for the audit page

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import painel.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('created_at', painel.types.UtcDateTime(), nullable=False),
    sa.Column('last_login_at', painel.types.UtcDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'support')", name=op.f('ck_admin_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_users')),
    sa.UniqueConstraint('username', name=op.f('uq_admin_users_username'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_target', ['target_kind', 'target_id'], unique=False)
        batch_op.create_index('ix_audit_events_actor', ['actor_kind', 'actor'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_actor')
        batch_op.drop_index('ix_audit_events_target')
    op.drop_table('admin_users')
