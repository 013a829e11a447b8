"""partial index of the billed calls by circuit and billing month

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 08:00:00

The portal's Fatura em Aberto (calls not yet invoiced) and the monthly chart's counts are
answered from this index alone, without reading the table.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# written out, not imported: a migration keeps the schema of its day
COLUMNS = ['circuit_id', 'bill_month', 'invoice_id', 'category', 'billsec']
WHERE = "role = 'call' AND direction IN ('outbound', 'forwarded', 'collect')"


def upgrade() -> None:
    op.create_index('ix_cdrs_billed', 'cdrs', COLUMNS, unique=False,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index('ix_cdrs_billed', table_name='cdrs', sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))
