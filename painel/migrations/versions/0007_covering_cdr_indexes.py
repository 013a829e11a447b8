"""the portal's totals from the indexes alone: ix_cdrs_circuit_start and ix_cdrs_billed carry what they add up

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 14:30:00

A call list's totals (count, answered, blocked, seconds, cost), the Fatura em Aberto's sums
and the monthly chart's counts read every call of the circuit's month. From the table that is about a page read per
call, since a CDR row holds its raw document: a circuit with tens of thousands of calls in
the month made each page view cost hundreds of milliseconds. Both indexes now carry those
columns (ix_cdrs_billed also role and direction, its condition's columns, which SQLite
wants in a covering index), so the sums are index-only scans. ix_cdrs_circuit_start also gains the id after
start_utc, the lists' tie-break order (newest first, then the id).

The first migration that rebuilds something: on a large table the two indexes take minutes
to build and CDR inserts wait meanwhile (deploy/README.md, Upgrading).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# written out, not imported: a migration keeps the schema of its day
CIRCUIT_START_OLD = ['circuit_id', 'start_utc']
CIRCUIT_START_NEW = ['circuit_id', 'start_utc', 'id', 'role', 'direction', 'rule', 'billsec',
                     'billable_seconds', 'amount']
CIRCUIT_WHERE = 'circuit_id IS NOT NULL'
BILLED_OLD = ['circuit_id', 'bill_month', 'invoice_id', 'category', 'billsec']
BILLED_NEW = ['circuit_id', 'bill_month', 'invoice_id', 'category', 'billsec', 'billable_seconds', 'amount',
              'role', 'direction']
BILLED_WHERE = "role = 'call' AND direction IN ('outbound', 'forwarded', 'collect')"


def _replace(name: str, columns: list[str], where: str) -> None:
    op.drop_index(name, table_name='cdrs', sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    op.create_index(name, 'cdrs', columns, unique=False, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    _replace('ix_cdrs_circuit_start', CIRCUIT_START_NEW, CIRCUIT_WHERE)
    _replace('ix_cdrs_billed', BILLED_NEW, BILLED_WHERE)


def downgrade() -> None:
    _replace('ix_cdrs_billed', BILLED_OLD, BILLED_WHERE)
    _replace('ix_cdrs_circuit_start', CIRCUIT_START_OLD, CIRCUIT_WHERE)
