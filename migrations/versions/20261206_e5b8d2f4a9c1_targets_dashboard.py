"""targets dashboard: indexes for its counts, and a data version for its cached figures (issue 11)

Revision ID: e5b8d2f4a9c1
Revises: e5c2a7b913d4
Create Date: 2026-12-06 16:30:00

The targets dashboard (crm/dashboard/targets.py) counts, per county, the firms of a 20,000-entry list edition that
are 规上 in the year, with that year's 产值, and the settled 成渝 firms. At 100,000 enterprises both statements read
the whole ``enterprises`` table (and the year's ``enterprise_figures`` hashed). Indexes (why: next to the models):

- ``ix_enterprise_figures_year_enterprise_id`` (year, enterprise_id), on PostgreSQL including the summed values;
- ``ix_enterprises_id_county_id_above_scale`` (id) including county_id and above_scale, PostgreSQL only;
- ``ix_enterprises_settled_on_chengyu`` (settled_on) WHERE settled_from_chengyu IS true, PostgreSQL only.

And a data version ``targets`` in ``dashboard_data_versions`` (the mechanism of migration 9d1c6a2e5b37, whose
functions it reuses): on PostgreSQL statement triggers ``crm_dashboard_targets_bump*`` after every write to what the
dashboard counts — enterprises (insert, delete, truncate, and an update of county_id, above_scale,
settled_from_chengyu or settled_on), enterprise_figures, counties, parks, targets, plan_targets, counting_rules,
target_snapshots, and the rows of published or superseded 配套企业名单 editions in roster_entries and
roster_editions (not a draft's: see ``PG_LISTS``) — note ``targets`` in ``dashboard_pending_changes``, and the
writing transaction's commit moves the counter to the next value of ``dashboard_version_seq``. The dashboard's
figures are cached per process under that counter (crm/dashboard/targets.py), so a saved change shows at the next
view. The row exists on SQLite too (nothing is cached there; no triggers).

``IF NOT EXISTS``: on a busy live database, create the indexes first by hand with ``CREATE INDEX CONCURRENTLY``
(same names).
"""
import sqlalchemy as sa
from alembic import op

revision = 'e5b8d2f4a9c1'
down_revision = 'e5c2a7b913d4'
branch_labels = None
depends_on = None

KIND = 'targets'
TRIGGER = 'crm_dashboard_targets_bump'
ALL = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
# table -> the write events that can move a figure of the targets dashboard (a plain statement trigger)
VERSIONED = {
    'enterprises': "INSERT OR UPDATE OF county_id, above_scale, settled_from_chengyu, settled_on OR DELETE OR TRUNCATE",
    'enterprise_figures': ALL,
    'counties': ALL,
    'parks': ALL,
    'targets': ALL,
    'plan_targets': ALL,
    'counting_rules': ALL,
    'target_snapshots': ALL,
}
# The lists: the dashboard counts only published and superseded editions of the 配套企业名单, and only a draft is
# ever edited (crm.rosters.domain.ensure_editable) — a coordinator adding to next half year's draft, or an import
# into it, must not make every leader's next view recount. So a write to these two tables notes 'targets' only when
# a row it wrote (before or after the change) belongs to such an edition: a publication (the draft becomes
# published, the previous one superseded), a correction of a published list, a deletion. Transition tables: one
# trigger per event; TRUNCATE notes it always.
LIST_TABLES = ('roster_entries', 'roster_editions')
COUNTED = "kind = 'supplier_list' AND status IN ('published', 'superseded')"
PG_LISTS = f"""
CREATE OR REPLACE FUNCTION crm_dashboard_targets_lists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  hit boolean := false;
BEGIN
  IF TG_TABLE_NAME = 'roster_entries' THEN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      hit := EXISTS (SELECT 1 FROM new_rows r JOIN roster_editions e ON e.id = r.edition_id WHERE e.{COUNTED});
    END IF;
    IF NOT hit AND TG_OP IN ('DELETE', 'UPDATE') THEN
      hit := EXISTS (SELECT 1 FROM old_rows r JOIN roster_editions e ON e.id = r.edition_id WHERE e.{COUNTED});
    END IF;
  ELSE
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      hit := EXISTS (SELECT 1 FROM new_rows WHERE {COUNTED});
    END IF;
    IF NOT hit AND TG_OP IN ('DELETE', 'UPDATE') THEN
      hit := EXISTS (SELECT 1 FROM old_rows WHERE {COUNTED});
    END IF;
  END IF;
  IF hit THEN
    INSERT INTO dashboard_pending_changes (kind) VALUES ('{KIND}');
  END IF;
  RETURN NULL;
END $$
"""


def _pg_triggers():
    for table, events in VERSIONED.items():
        yield (f"CREATE TRIGGER {TRIGGER} AFTER {events} ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{KIND}')")
    for table in LIST_TABLES:
        for event, referencing in (("INSERT", "NEW TABLE AS new_rows"),
                                   ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                   ("DELETE", "OLD TABLE AS old_rows")):
            yield (f"CREATE TRIGGER {TRIGGER}_{event.lower()} AFTER {event} ON {table} REFERENCING {referencing} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_targets_lists()")
        yield (f"CREATE TRIGGER {TRIGGER} AFTER TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{KIND}')")


def _pg_drop():
    for table in (*VERSIONED, *LIST_TABLES):
        for suffix in ("", "_insert", "_update", "_delete"):
            yield f"DROP TRIGGER IF EXISTS {TRIGGER}{suffix} ON {table}"
    yield "DROP FUNCTION IF EXISTS crm_dashboard_targets_lists()"


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
        op.execute(PG_LISTS)
        for statement in _pg_triggers():
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for statement in _pg_drop():
            op.execute(statement)
        op.drop_index('ix_enterprises_settled_on_chengyu', table_name='enterprises')
        op.drop_index('ix_enterprises_id_county_id_above_scale', table_name='enterprises')
    op.execute(f"DELETE FROM dashboard_data_versions WHERE name = '{KIND}'")
    op.drop_index('ix_enterprise_figures_year_enterprise_id', table_name='enterprise_figures')
