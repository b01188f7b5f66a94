"""provincial scale: indexes for the lists' sorts and filters, pg_trgm for name fragments (issue 11)

Revision ID: c4d7e2a91f03
Revises: f30564474dd7
Create Date: 2026-12-06 10:40:00

Every index is named after what it serves (crm/enterprises/models.py, crm/service/models.py, crm/core/audit.py
say why next to each). Three single-column indexes become the first column of a composite one and are dropped
(interactions, service_requests and audit_log by enterprise), as is enterprises.name_initials's B-tree, which the
contains-search never used.

PostgreSQL only: the SQL function ``crm_bigrams(text)`` and a GIN index over ``crm_bigrams(name)`` (two-character
Chinese fragments, which have no trigram); ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` (needs a role allowed to create it — the database
owner on PostgreSQL 13+, pg_trgm being a trusted extension — or a superuser; production: have it created once
by the DBA if the app's role may not) and the GIN trigram index over the four searched columns. SQLite gets the
B-trees only (crm.core.schema.only_on). The downgrade leaves the extension in place (other objects may use it).

Plain ``CREATE INDEX`` takes a lock that blocks writes to the table while it builds (about 1–3 s per index at
100,000 enterprises / 2,000,000 interactions on the benchmark machine): fine in a release's maintenance window.
To add them to a busy live database instead, create each with ``CREATE INDEX CONCURRENTLY`` by hand first (same
names; outside a transaction) and this migration's ``IF NOT EXISTS`` then finds them there.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c4d7e2a91f03'
down_revision = 'f30564474dd7'
branch_labels = None
depends_on = None

# (name, table, columns); created on both databases
BTREES = [
    ('ix_enterprises_name_pinyin_id', 'enterprises', ['name_pinyin', 'id']),
    ('ix_enterprises_updated_at_id', 'enterprises', ['updated_at', 'id']),
    ('ix_interactions_enterprise_id_occurred_on', 'interactions', ['enterprise_id', 'occurred_on', 'id']),
    ('ix_service_requests_status_due_date', 'service_requests', ['status', 'due_date']),
    ('ix_service_requests_enterprise_id_status', 'service_requests', ['enterprise_id', 'status', 'due_date']),
    ('ix_service_requests_raised_on_id', 'service_requests', ['raised_on', 'id']),
    ('ix_audit_log_enterprise_id_at', 'audit_log', ['enterprise_id', 'at', 'id']),
]
# the single-column indexes the composite ones above make redundant (or that nothing used)
REPLACED = [
    ('ix_interactions_enterprise_id', 'interactions', ['enterprise_id']),
    ('ix_service_requests_enterprise_id', 'service_requests', ['enterprise_id']),
    ('ix_audit_log_enterprise_id', 'audit_log', ['enterprise_id']),
    ('ix_enterprises_name_initials', 'enterprises', ['name_initials']),
]
TRGM_COLUMNS = ['name', 'name_pinyin', 'name_initials', 'uscc']
# The distinct two-character pieces of a text (crm.enterprises.models.name_bigrams): IMMUTABLE, so an index can
# hold it; STRICT (NULL in, NULL out); a text shorter than 2 characters has none.
BIGRAMS = """
CREATE OR REPLACE FUNCTION crm_bigrams(text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT coalesce(array_agg(DISTINCT substr($1, i, 2)), '{}') FROM generate_series(1, length($1) - 1) AS i $$
"""


def upgrade():
    for name, table, columns in BTREES:
        op.create_index(name, table, columns, unique=False, if_not_exists=True)
    for name, table, _columns in REPLACED:
        op.drop_index(name, table_name=table)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_enterprises_search_trgm', 'enterprises', TRGM_COLUMNS, unique=False,
                        postgresql_using='gin', postgresql_ops={c: 'gin_trgm_ops' for c in TRGM_COLUMNS},
                        if_not_exists=True)
        op.execute(BIGRAMS)
        op.execute('CREATE INDEX IF NOT EXISTS ix_enterprises_name_bigrams ON enterprises '
                   'USING gin (crm_bigrams(name))')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_enterprises_name_bigrams', table_name='enterprises')
        op.execute('DROP FUNCTION crm_bigrams(text)')
        op.drop_index('ix_enterprises_search_trgm', table_name='enterprises')
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns, unique=False)
    for name, table, _columns in reversed(BTREES):
        op.drop_index(name, table_name=table)
