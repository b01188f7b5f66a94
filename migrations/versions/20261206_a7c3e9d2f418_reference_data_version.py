"""data version 'reference': enterprises' placement and the reference names, for the service pages' cached counts (issue 11)

Revision ID: a7c3e9d2f418
Revises: a7c3e9f15b28
Create Date: 2026-12-06 20:00:00

The service pages' counts (the coverage matrix's gaps, the ledger's per-department summary, the coordinator
workspace's summary) are cached per process under the data versions of what they read (crm/core/cache.py). The
kinds of migration 9d1c6a2e5b37 cover their rows (``assignments`` with the lists' entries and editions,
``requests``, ``interactions``, an enterprise's county change or deletion) but not everything their statements
read besides: the matrix's cluster filter (an enterprise's ``cluster_id``, a cluster's name), the join to the
counties, the ledger's owner filter (a user's ``username``) and its departments' names and order. This adds the
kind ``reference`` (a row in ``dashboard_data_versions``, on both databases) and, on PostgreSQL, statement triggers
``crm_reference_bump`` that note it — with the function ``crm_dashboard_bump`` of 9d1c6a2e5b37, so the writing
transaction's commit moves the counter — after:

- ``enterprises``: insert, delete, truncate, and an update of ``county_id`` or ``cluster_id`` (an enterprise's other
  columns are edited all day and none of the cached counts reads them);
- ``counties``, ``clusters``, ``departments``: every write (reference data, a few times a year);
- ``users``: insert, delete, truncate and an update of ``username`` (not the sign-in bookkeeping).

SQLite caches nothing and gets no triggers.
"""
import sqlalchemy as sa
from alembic import op

revision = 'a7c3e9d2f418'
down_revision = 'a7c3e9f15b28'
branch_labels = None
depends_on = None

KIND = 'reference'
TRIGGER = 'crm_reference_bump'
ALL = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
VERSIONED = {  # table -> the write events that move the kind
    'enterprises': "INSERT OR UPDATE OF county_id, cluster_id OR DELETE OR TRUNCATE",
    'counties': ALL,
    'clusters': ALL,
    'departments': ALL,
    'users': "INSERT OR UPDATE OF username OR DELETE OR TRUNCATE",
}


def upgrade():
    versions = sa.table('dashboard_data_versions', sa.column('name', sa.String), sa.column('version', sa.BigInteger))
    op.bulk_insert(versions, [{'name': KIND, 'version': 0}])
    if op.get_bind().dialect.name == 'postgresql':
        for table, events in VERSIONED.items():
            op.execute(f"CREATE TRIGGER {TRIGGER} AFTER {events} ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{KIND}')")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in VERSIONED:
            op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    op.execute(f"DELETE FROM dashboard_data_versions WHERE name = '{KIND}'")
