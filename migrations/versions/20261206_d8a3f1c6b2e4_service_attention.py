"""service attention: the workspace's per-enterprise figures kept by triggers; the open requests' ledger index (issue 11)

Revision ID: d8a3f1c6b2e4
Revises: 9d1c6a2e5b37
Create Date: 2026-12-06 14:10:00

``service_attention`` (crm.service.models.ServiceAttention): per enterprise, the active assignments (how many, and
their specialties as bits), the latest
interaction's date and next follow-up, the open requests' count and earliest due date, the resolved ones awaiting
their 回访. The database keeps it: after every insert, update or delete on ``assignments``, ``interactions`` and
``service_requests`` the rows of the enterprises touched are recomputed from those tables (not adjusted by a delta:
whatever the write, the row ends equal to the direct computation).

- PostgreSQL: the recomputation is the function ``crm_refresh_service_attention(integer[])``; it inserts the
  missing rows, locks the enterprises' rows in id order (two transactions writing for the same enterprise queue
  there, and the second then recomputes from a snapshot that holds the first one's commit), then updates them.
  Per table and event one statement-level trigger with a transition table (``new_rows`` / ``old_rows``) calls it
  once with the statement's distinct enterprise ids: a ``COPY`` of 2,000,000 interactions recomputes each
  enterprise once. A ``TRUNCATE`` of one of the three tables recomputes every row.
- SQLite: row-level triggers doing the same for ``NEW`` / ``OLD`` (its transactions hold the write lock).

The upgrade fills the table from the existing rows (≈ 10 s at 100,000 enterprises / 2,000,000 interactions on the
benchmark machine). Also ``ix_service_requests_open_raised_on``: the ledger's order among the open requests only
(partial, with the due date as a key column; on PostgreSQL the department and enterprise included); and on
PostgreSQL ``ix_service_requests_status_due_date`` is rebuilt with the department included (the ledger's
per-department counts from the index alone).
"""
from alembic import op
import sqlalchemy as sa


revision = 'd8a3f1c6b2e4'
down_revision = '9d1c6a2e5b37'
branch_labels = None
depends_on = None

OPEN = "('raised', 'accepted', 'in_progress')"
OPEN_PREDICATE = f"status IN {OPEN}"
TABLES = ('assignments', 'interactions', 'service_requests')

# crm.service.models.SPECIALTY_BITS, as SQL: one bit per specialty, in the enumeration's order
BITS = ' '.join(f"WHEN '{code}' THEN {1 << n}" for n, code in enumerate(('tech', 'finance', 'legal', 'media', 'talent')))

# The recomputation of the rows ``service_attention AS s`` selected by the caller's WHERE (the same text on both
# databases: one index probe per figure, ix_... on each table's enterprise_id).
RECOMPUTE = f"""
UPDATE service_attention SET
  active_assignments = (SELECT count(*) FROM assignments a
                        WHERE a.enterprise_id = service_attention.enterprise_id AND a.ended_on IS NULL),
  active_specialties = (SELECT coalesce(sum(DISTINCT CASE a.specialty {BITS} ELSE 0 END), 0) FROM assignments a
                        WHERE a.enterprise_id = service_attention.enterprise_id AND a.ended_on IS NULL),
  last_contact = (SELECT i.occurred_on FROM interactions i WHERE i.enterprise_id = service_attention.enterprise_id
                  ORDER BY i.occurred_on DESC, i.id DESC LIMIT 1),
  follow_up = (SELECT i.next_follow_up FROM interactions i WHERE i.enterprise_id = service_attention.enterprise_id
               ORDER BY i.occurred_on DESC, i.id DESC LIMIT 1),
  open_requests = (SELECT count(*) FROM service_requests r
                   WHERE r.enterprise_id = service_attention.enterprise_id AND r.status IN {OPEN}),
  next_due = (SELECT min(r.due_date) FROM service_requests r
              WHERE r.enterprise_id = service_attention.enterprise_id AND r.status IN {OPEN}),
  awaiting_visit = (SELECT count(*) FROM service_requests r
                    WHERE r.enterprise_id = service_attention.enterprise_id AND r.status = 'resolved')
"""

PG_REFRESH = f"""
CREATE OR REPLACE FUNCTION crm_refresh_service_attention(ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  -- an enterprise being deleted (a cascade from enterprises) gets no row
  INSERT INTO service_attention (enterprise_id)
    SELECT e.id FROM enterprises e WHERE e.id = ANY (ids) ORDER BY e.id
    ON CONFLICT (enterprise_id) DO NOTHING;
  -- lock first: the UPDATE below then runs on a snapshot taken after any concurrent writer for these enterprises
  -- committed (each statement of a plpgsql function takes a new snapshot under READ COMMITTED)
  PERFORM 1 FROM service_attention WHERE enterprise_id = ANY (ids) ORDER BY enterprise_id FOR UPDATE;
  {RECOMPUTE} WHERE service_attention.enterprise_id = ANY (ids);
END
$$
"""

PG_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION crm_service_attention_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM crm_refresh_service_attention(ARRAY(SELECT DISTINCT enterprise_id FROM new_rows));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM crm_refresh_service_attention(
      ARRAY(SELECT enterprise_id FROM new_rows UNION SELECT enterprise_id FROM old_rows));
  ELSE
    PERFORM crm_refresh_service_attention(ARRAY(SELECT DISTINCT enterprise_id FROM old_rows));
  END IF;
  RETURN NULL;
END
$$
"""

# TRUNCATE (no transition table): every row is recomputed
PG_TRUNCATED = """
CREATE OR REPLACE FUNCTION crm_service_attention_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM crm_refresh_service_attention(ARRAY(SELECT enterprise_id FROM service_attention));
  RETURN NULL;
END
$$
"""

PG_EVENTS = {'insert': 'REFERENCING NEW TABLE AS new_rows',
             'update': 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows',
             'delete': 'REFERENCING OLD TABLE AS old_rows'}


def _sqlite_refresh(ref: str) -> str:
    return (f"INSERT OR IGNORE INTO service_attention (enterprise_id) SELECT {ref}.enterprise_id "
            f"WHERE EXISTS (SELECT 1 FROM enterprises WHERE id = {ref}.enterprise_id); "
            f"{RECOMPUTE} WHERE service_attention.enterprise_id = {ref}.enterprise_id;")


SQLITE_EVENTS = {'insert': ('NEW',), 'update': ('OLD', 'NEW'), 'delete': ('OLD',)}


def _trigger(table: str, event: str) -> str:
    return f'trg_{table}_attention_{event}'


def upgrade():
    op.create_table('service_attention',
    sa.Column('enterprise_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('active_assignments', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('active_specialties', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_contact', sa.Date(), nullable=True),
    sa.Column('follow_up', sa.Date(), nullable=True),
    sa.Column('next_due', sa.Date(), nullable=True),
    sa.Column('open_requests', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('awaiting_visit', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'],
                            name=op.f('fk_service_attention_enterprise_id_enterprises'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enterprise_id', name=op.f('pk_service_attention'))
    )
    op.create_index('ix_service_attention_order', 'service_attention', ['last_contact', 'next_due', 'enterprise_id'],
                    unique=False)
    op.create_index('ix_service_attention_follow_up', 'service_attention', ['follow_up'], unique=False)
    op.execute('INSERT INTO service_attention (enterprise_id) '
               'SELECT enterprise_id FROM assignments WHERE ended_on IS NULL '
               'UNION SELECT enterprise_id FROM interactions UNION SELECT enterprise_id FROM service_requests')
    op.execute(RECOMPUTE)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_REFRESH)
        op.execute(PG_TRIGGER_FUNCTION)
        op.execute(PG_TRUNCATED)
        for table in TABLES:
            for event, referencing in PG_EVENTS.items():
                op.execute(f'CREATE TRIGGER {_trigger(table, event)} AFTER {event.upper()} ON {table} '
                           f'{referencing} FOR EACH STATEMENT EXECUTE FUNCTION crm_service_attention_changed()')
            op.execute(f'CREATE TRIGGER {_trigger(table, "truncate")} AFTER TRUNCATE ON {table} '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crm_service_attention_truncated()')
        op.execute('ANALYZE service_attention')
    else:
        for table in TABLES:
            for event, refs in SQLITE_EVENTS.items():
                body = ' '.join(_sqlite_refresh(ref) for ref in refs)
                op.execute(f'CREATE TRIGGER {_trigger(table, event)} AFTER {event.upper()} ON {table} '
                           f'FOR EACH ROW BEGIN {body} END')
    op.create_index('ix_service_requests_open_raised_on', 'service_requests', ['raised_on', 'id', 'due_date'],
                    unique=False, postgresql_include=['department_id', 'enterprise_id'],
                    postgresql_where=sa.text(OPEN_PREDICATE), sqlite_where=sa.text(OPEN_PREDICATE))
    if op.get_bind().dialect.name == 'postgresql':  # the department in the index (SQLite has no INCLUDE)
        op.drop_index('ix_service_requests_status_due_date', table_name='service_requests')
        op.create_index('ix_service_requests_status_due_date', 'service_requests', ['status', 'due_date'],
                        unique=False, postgresql_include=['department_id'])


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_service_requests_status_due_date', table_name='service_requests')
        op.create_index('ix_service_requests_status_due_date', 'service_requests', ['status', 'due_date'],
                        unique=False)
    op.drop_index('ix_service_requests_open_raised_on', table_name='service_requests',
                  postgresql_where=sa.text(OPEN_PREDICATE), sqlite_where=sa.text(OPEN_PREDICATE))
    for table in TABLES:
        for event in (*PG_EVENTS, 'truncate'):
            op.execute(f'DROP TRIGGER IF EXISTS {_trigger(table, event)}'
                       + (f' ON {table}' if op.get_bind().dialect.name == 'postgresql' else ''))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION crm_service_attention_truncated()')
        op.execute('DROP FUNCTION crm_service_attention_changed()')
        op.execute('DROP FUNCTION crm_refresh_service_attention(integer[])')
    op.drop_index('ix_service_attention_follow_up', table_name='service_attention')
    op.drop_index('ix_service_attention_order', table_name='service_attention')
    op.drop_table('service_attention')
