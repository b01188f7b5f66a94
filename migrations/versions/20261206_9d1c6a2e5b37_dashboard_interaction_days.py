"""dashboard: daily rollup of interactions per county and author, data versions for the cache; kept by triggers (issue 11)

Revision ID: 9d1c6a2e5b37
Revises: d1e8f3a2b7c5
Create Date: 2026-12-06 14:00:00

``dashboard_interaction_days`` (crm/dashboard/models.py ``InteractionDay``, crm/dashboard/rollup.py): per day ×
the enterprise's county × author, the number of 走访 and of all 服务记录. The service dashboard sums it instead of
aggregating the period's interactions joined to the 100,000 enterprises.

Kept by triggers, so every writer (domain functions, imports, ``COPY``, the cascade of a deleted enterprise) keeps
it exact inside its own transaction:

- PostgreSQL: statement-level triggers with transition tables on ``interactions`` (one grouped upsert per
  statement, whatever its row count), a ``TRUNCATE`` trigger, and row triggers on ``enterprises`` (a county
  change moves the counts; a delete takes its interactions out before the cascade, which then finds no
  enterprise to count them in);
- SQLite: the same as row-level triggers.

``dashboard_data_versions`` (``DataVersion``, crm/dashboard/cache.py), PostgreSQL only in use: one counter per kind
of record the service dashboard caches figures of (``interactions``; ``requests``: service_requests and
policy_deliveries; ``assignments``: assignments, roster_entries, roster_editions; a change of an enterprise's
county or its deletion moves ``requests`` and ``assignments``): a statement trigger after every write notes the
kinds in ``dashboard_pending_changes``, and when the transaction commits a deferred constraint trigger sets each
counter to ``nextval('dashboard_version_seq')`` — a sequence, so a number is never given twice, even by a
transaction that rolls back — and deletes the note (the counters' row locks are held only for the commit: writers
do not queue behind each other's open transactions). Rows are created on both databases; SQLite gets no triggers (it caches nothing).

The backfill is one grouped ``INSERT … SELECT`` over all interactions, in key order so the table is stored by day
(a period's rows sit on few pages; later days are appended in order anyway): ≈ 20 s at 2,000,000 interactions
(1,330,000 rollup rows: the benchmark's commissioners work across counties) on the benchmark machine.
"""
from alembic import op
import sqlalchemy as sa


revision = '9d1c6a2e5b37'
down_revision = 'd1e8f3a2b7c5'
branch_labels = None
depends_on = None

TABLE = 'dashboard_interaction_days'

BACKFILL = f"""
INSERT INTO {TABLE} (day, county_id, user_id, visits, interactions)
SELECT i.occurred_on, e.county_id, coalesce(i.created_by_id, 0),
       sum(CASE WHEN i.channel = 'visit' THEN 1 ELSE 0 END), count(*)
FROM interactions i JOIN enterprises e ON e.id = i.enterprise_id
GROUP BY i.occurred_on, e.county_id, coalesce(i.created_by_id, 0)
ORDER BY 1, 2, 3
"""

# --- PostgreSQL ------------------------------------------------------------------------------------------------

# Add (sign +1) or take out (sign -1) the rows of a transition table, grouped, then drop the groups left at 0.
# ORDER BY: concurrent writers lock the rollup's rows in the same order (no deadlock between two imports).
PG_APPLY = f"""
CREATE OR REPLACE FUNCTION crm_interaction_days_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO {TABLE} AS d (day, county_id, user_id, visits, interactions)
    SELECT o.occurred_on, e.county_id, coalesce(o.created_by_id, 0),
           -count(*) FILTER (WHERE o.channel = 'visit'), -count(*)
    FROM old_rows o JOIN enterprises e ON e.id = o.enterprise_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (day, county_id, user_id) DO UPDATE
      SET visits = d.visits + excluded.visits, interactions = d.interactions + excluded.interactions;
    DELETE FROM {TABLE} d USING old_rows o JOIN enterprises e ON e.id = o.enterprise_id
    WHERE d.day = o.occurred_on AND d.county_id = e.county_id AND d.user_id = coalesce(o.created_by_id, 0)
      AND d.interactions = 0;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO {TABLE} AS d (day, county_id, user_id, visits, interactions)
    SELECT n.occurred_on, e.county_id, coalesce(n.created_by_id, 0),
           count(*) FILTER (WHERE n.channel = 'visit'), count(*)
    FROM new_rows n JOIN enterprises e ON e.id = n.enterprise_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (day, county_id, user_id) DO UPDATE
      SET visits = d.visits + excluded.visits, interactions = d.interactions + excluded.interactions;
  END IF;
  RETURN NULL;
END $$
"""
# One enterprise's interactions, added to / taken out of a county.
PG_MOVE = f"""
CREATE OR REPLACE FUNCTION crm_interaction_days_move(enterprise integer, county integer, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {TABLE} AS d (day, county_id, user_id, visits, interactions)
  SELECT i.occurred_on, county, coalesce(i.created_by_id, 0),
         sign * count(*) FILTER (WHERE i.channel = 'visit'), sign * count(*)
  FROM interactions i WHERE i.enterprise_id = enterprise
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (day, county_id, user_id) DO UPDATE
    SET visits = d.visits + excluded.visits, interactions = d.interactions + excluded.interactions;
  DELETE FROM {TABLE} d WHERE d.county_id = county AND d.interactions = 0
    AND (d.day, d.user_id) IN (SELECT i.occurred_on, coalesce(i.created_by_id, 0)
                               FROM interactions i WHERE i.enterprise_id = enterprise);
END $$
"""
PG_ENTERPRISE = f"""
CREATE OR REPLACE FUNCTION crm_interaction_days_enterprise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM crm_interaction_days_move(OLD.id, OLD.county_id, -1);
    RETURN OLD;
  END IF;
  PERFORM crm_interaction_days_move(OLD.id, OLD.county_id, -1);
  PERFORM crm_interaction_days_move(NEW.id, NEW.county_id, 1);
  RETURN NULL;
END $$
"""
PG_TRUNCATE = f"""
CREATE OR REPLACE FUNCTION crm_interaction_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {TABLE};
  RETURN NULL;
END $$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER crm_interaction_days_insert AFTER INSERT ON interactions REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_interaction_days_apply()",
    "CREATE TRIGGER crm_interaction_days_update AFTER UPDATE ON interactions "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION crm_interaction_days_apply()",
    "CREATE TRIGGER crm_interaction_days_delete AFTER DELETE ON interactions REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_interaction_days_apply()",
    "CREATE TRIGGER crm_interaction_days_truncate AFTER TRUNCATE ON interactions "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_interaction_days_truncate()",
    "CREATE TRIGGER crm_interaction_days_county AFTER UPDATE OF county_id ON enterprises FOR EACH ROW "
    "WHEN (OLD.county_id IS DISTINCT FROM NEW.county_id) EXECUTE FUNCTION crm_interaction_days_enterprise()",
    "CREATE TRIGGER crm_interaction_days_enterprise_delete BEFORE DELETE ON enterprises FOR EACH ROW "
    "EXECUTE FUNCTION crm_interaction_days_enterprise()",
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS crm_interaction_days_insert ON interactions",
    "DROP TRIGGER IF EXISTS crm_interaction_days_update ON interactions",
    "DROP TRIGGER IF EXISTS crm_interaction_days_delete ON interactions",
    "DROP TRIGGER IF EXISTS crm_interaction_days_truncate ON interactions",
    "DROP TRIGGER IF EXISTS crm_interaction_days_county ON enterprises",
    "DROP TRIGGER IF EXISTS crm_interaction_days_enterprise_delete ON enterprises",
    "DROP FUNCTION IF EXISTS crm_interaction_days_apply()",
    "DROP FUNCTION IF EXISTS crm_interaction_days_enterprise()",
    "DROP FUNCTION IF EXISTS crm_interaction_days_move(integer, integer, integer)",
    "DROP FUNCTION IF EXISTS crm_interaction_days_truncate()",
]

VERSIONED = {  # table -> the kinds a write to it moves
    'interactions': ['interactions'],
    'service_requests': ['requests'],
    'policy_deliveries': ['requests'],
    'assignments': ['assignments'],
    'roster_entries': ['assignments'],
    'roster_editions': ['assignments'],
}
KINDS = ['interactions', 'requests', 'assignments']
# A write statement only notes its kinds in dashboard_pending_changes (an insert: writers never wait for each
# other); the counters move when the writing transaction commits (a deferred constraint trigger: row locks held
# for microseconds instead of through the whole transaction, so no hot row serialises the writers). The first of a
# transaction's deferred triggers locks every kind the transaction noted in name order, bumps each once and takes
# all its notes; the later ones find their note gone. Two transactions that wrote two kinds in opposite orders
# therefore lock the counters in the same order and cannot deadlock at commit. The table stays empty.
PG_BUMP = """
CREATE OR REPLACE FUNCTION crm_dashboard_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO dashboard_pending_changes (kind) SELECT unnest(TG_ARGV);
  RETURN NULL;
END $$
"""
PG_COMMIT = """
CREATE OR REPLACE FUNCTION crm_dashboard_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM dashboard_pending_changes WHERE id = NEW.id) THEN
    RETURN NULL;  -- an earlier trigger of this transaction took this note with the others
  END IF;
  PERFORM 1 FROM dashboard_data_versions
    WHERE name IN (SELECT kind FROM dashboard_pending_changes) ORDER BY name FOR UPDATE;
  UPDATE dashboard_data_versions SET version = nextval('dashboard_version_seq')
    WHERE name IN (SELECT kind FROM dashboard_pending_changes);
  DELETE FROM dashboard_pending_changes;  -- this transaction's notes: no other one's are visible uncommitted
  RETURN NULL;
END $$
"""
PG_COMMIT_TRIGGER = ("CREATE CONSTRAINT TRIGGER crm_dashboard_commit AFTER INSERT ON dashboard_pending_changes "
                     "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm_dashboard_commit()")


def _pg_version_triggers():
    for table, kinds in VERSIONED.items():
        args = ', '.join(f"'{k}'" for k in kinds)
        yield (f"CREATE TRIGGER crm_dashboard_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump({args})")
    yield ("CREATE TRIGGER crm_dashboard_bump AFTER UPDATE OF county_id OR DELETE ON enterprises "
           "FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('requests', 'assignments')")


# --- SQLite (row triggers) -------------------------------------------------------------------------------------


def _sqlite_add(row: str, sign: str) -> str:
    """Add (sign '') or take out (sign '-') one interaction ``row`` (NEW / OLD) in its enterprise's county."""
    return f"""
  INSERT INTO {TABLE} (day, county_id, user_id, visits, interactions)
  SELECT {row}.occurred_on, e.county_id, coalesce({row}.created_by_id, 0),
         {sign}(CASE WHEN {row}.channel = 'visit' THEN 1 ELSE 0 END), {sign}1
  FROM enterprises e WHERE e.id = {row}.enterprise_id
  ON CONFLICT (day, county_id, user_id) DO UPDATE
    SET visits = visits + excluded.visits, interactions = interactions + excluded.interactions;
  DELETE FROM {TABLE} WHERE interactions = 0 AND day = {row}.occurred_on
    AND user_id = coalesce({row}.created_by_id, 0);"""


def _sqlite_move(county: str, sign: str) -> str:
    return f"""
  INSERT INTO {TABLE} (day, county_id, user_id, visits, interactions)
  SELECT i.occurred_on, {county}, coalesce(i.created_by_id, 0),
         {sign}sum(CASE WHEN i.channel = 'visit' THEN 1 ELSE 0 END), {sign}count(*)
  FROM interactions i WHERE i.enterprise_id = OLD.id
  GROUP BY i.occurred_on, coalesce(i.created_by_id, 0)
  ON CONFLICT (day, county_id, user_id) DO UPDATE
    SET visits = visits + excluded.visits, interactions = interactions + excluded.interactions;
  DELETE FROM {TABLE} WHERE interactions = 0 AND county_id = {county};"""


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER crm_interaction_days_insert AFTER INSERT ON interactions BEGIN {_sqlite_add('NEW', '')}\nEND",
    f"CREATE TRIGGER crm_interaction_days_delete AFTER DELETE ON interactions BEGIN {_sqlite_add('OLD', '-')}\nEND",
    "CREATE TRIGGER crm_interaction_days_update AFTER UPDATE OF occurred_on, channel, created_by_id, enterprise_id "
    f"ON interactions BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '')}\nEND",
    "CREATE TRIGGER crm_interaction_days_county AFTER UPDATE OF county_id ON enterprises "
    f"WHEN OLD.county_id IS NOT NEW.county_id BEGIN {_sqlite_move('OLD.county_id', '-')} "
    f"{_sqlite_move('NEW.county_id', '')}\nEND",
    "CREATE TRIGGER crm_interaction_days_enterprise_delete BEFORE DELETE ON enterprises "
    f"BEGIN {_sqlite_move('OLD.county_id', '-')}\nEND",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    'crm_interaction_days_insert', 'crm_interaction_days_delete', 'crm_interaction_days_update',
    'crm_interaction_days_county', 'crm_interaction_days_enterprise_delete')]


def upgrade():
    op.create_table(TABLE,
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('county_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('interactions', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'county_id', 'user_id', name=op.f('pk_dashboard_interaction_days'))
    )
    op.create_index('ix_dashboard_interaction_days_user_id_day', TABLE, ['user_id', 'day'], unique=False)
    op.create_table('dashboard_data_versions',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dashboard_data_versions'))
    )
    versions = sa.table('dashboard_data_versions', sa.column('name', sa.String), sa.column('version', sa.BigInteger))
    op.bulk_insert(versions, [{'name': kind, 'version': 0} for kind in KINDS])
    op.create_table('dashboard_pending_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_pending_changes'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE SEQUENCE IF NOT EXISTS dashboard_version_seq")
        for statement in (PG_APPLY, PG_MOVE, PG_ENTERPRISE, PG_TRUNCATE, *PG_TRIGGERS, PG_BUMP, PG_COMMIT,
                          PG_COMMIT_TRIGGER, *_pg_version_triggers()):
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(BACKFILL)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in [*VERSIONED, 'enterprises']:
            op.execute(f"DROP TRIGGER IF EXISTS crm_dashboard_bump ON {table}")
        op.execute("DROP TRIGGER IF EXISTS crm_dashboard_commit ON dashboard_pending_changes")
        op.execute("DROP FUNCTION IF EXISTS crm_dashboard_bump()")
        op.execute("DROP FUNCTION IF EXISTS crm_dashboard_commit()")
        op.execute("DROP SEQUENCE IF EXISTS dashboard_version_seq")
        for statement in PG_DROP:
            op.execute(statement)
    else:
        for statement in SQLITE_DROP:
            op.execute(statement)
    op.drop_table('dashboard_pending_changes')
    op.drop_table('dashboard_data_versions')
    op.drop_index('ix_dashboard_interaction_days_user_id_day', table_name=TABLE)
    op.drop_table(TABLE)
