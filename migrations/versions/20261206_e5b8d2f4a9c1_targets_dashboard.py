"""targets dashboard: indexes for its counts, and a data version for its cached figures (issue 11)

Revision ID: e5b8d2f4a9c1
Revises: d8a3f1c6b2e4
Create Date: 2026-12-06 16:30:00

The targets dashboard (crm/dashboard/targets.py) counts, per county, the firms of a 20,000-entry list edition that
are 规上 in the year, with that year's 产值, and the settled 成渝 firms. At 100,000 enterprises both statements read
the whole ``enterprises`` table (and the year's ``enterprise_figures`` hashed). Indexes (why: next to the models):

- ``ix_enterprise_figures_year_enterprise_id`` (year, enterprise_id), on PostgreSQL including the summed values;
- ``ix_enterprises_id_county_id_above_scale`` (id) including county_id and above_scale, PostgreSQL only;
- ``ix_enterprises_settled_on_chengyu`` (settled_on) WHERE settled_from_chengyu IS true, PostgreSQL only.

And a data version ``targets`` in ``dashboard_data_versions`` (the mechanism of migration 9d1c6a2e5b37, whose
functions it reuses): on PostgreSQL a statement trigger ``crm_dashboard_targets_bump`` after every write to what the
dashboard counts — enterprises (insert, delete, truncate, and an update of county_id, above_scale,
settled_from_chengyu or settled_on), enterprise_figures, roster_entries, roster_editions, counties, parks, targets,
plan_targets, counting_rules, target_snapshots — notes ``targets`` in ``dashboard_pending_changes``, and the
writing transaction's commit moves the counter to the next value of ``dashboard_version_seq``. The dashboard's
figures are cached per process under that counter (crm/dashboard/targets.py), so a saved change shows at the next
view. The row exists on SQLite too (nothing is cached there; no triggers).

``IF NOT EXISTS``: on a busy live database, create the indexes first by hand with ``CREATE INDEX CONCURRENTLY``
(same names).
"""
from alembic import op
import sqlalchemy as sa


revision = 'e5b8d2f4a9c1'
down_revision = 'd8a3f1c6b2e4'
branch_labels = None
depends_on = None

KIND = 'targets'
TRIGGER = 'crm_dashboard_targets_bump'
# table -> the write events that can move a figure of the targets dashboard
VERSIONED = {
    'enterprises': "INSERT OR UPDATE OF county_id, above_scale, settled_from_chengyu, settled_on OR DELETE OR TRUNCATE",
    'enterprise_figures': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'roster_entries': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'roster_editions': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'counties': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'parks': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'targets': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'plan_targets': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'counting_rules': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    'target_snapshots': "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_index('ix_enterprise_figures_year_enterprise_id', 'enterprise_figures', ['year', 'enterprise_id'],
                    unique=False, if_not_exists=True,
                    postgresql_include=['output_value', 'chengyu_output_value', 'above_scale'])
    if postgresql:
        op.create_index('ix_enterprises_id_county_id_above_scale', 'enterprises', ['id'], unique=False,
                        if_not_exists=True, postgresql_include=['county_id', 'above_scale'])
        op.create_index('ix_enterprises_settled_on_chengyu', 'enterprises', ['settled_on'], unique=False,
                        if_not_exists=True, postgresql_where=sa.text('settled_from_chengyu IS true'))
    versions = sa.table('dashboard_data_versions', sa.column('name', sa.String), sa.column('version', sa.BigInteger))
    op.bulk_insert(versions, [{'name': KIND, 'version': 0}])
    if postgresql:
        for table, events in VERSIONED.items():
            op.execute(f"CREATE TRIGGER {TRIGGER} AFTER {events} ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{KIND}')")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in VERSIONED:
            op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
        op.drop_index('ix_enterprises_settled_on_chengyu', table_name='enterprises')
        op.drop_index('ix_enterprises_id_county_id_above_scale', table_name='enterprises')
    op.execute(f"DELETE FROM dashboard_data_versions WHERE name = '{KIND}'")
    op.drop_index('ix_enterprise_figures_year_enterprise_id', table_name='enterprise_figures')
