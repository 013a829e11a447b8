"""index of an invoice's calls

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 06:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_cdrs_invoice', 'cdrs', ['invoice_id'], unique=False,
                    sqlite_where=sa.text('invoice_id IS NOT NULL'),
                    postgresql_where=sa.text('invoice_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_cdrs_invoice', table_name='cdrs',
                  sqlite_where=sa.text('invoice_id IS NOT NULL'),
                  postgresql_where=sa.text('invoice_id IS NOT NULL'))
