"""data versions for the service pages' user choosers and the service dashboard's meetings (issue 11)

Revision ID: b4e1d7a9c3f2
Revises: f2b9c4e7a1d6
Create Date: 2026-12-06 23:10:00

Two more things read on every view are kept per process (crm/core/cache.py) while what they read is unchanged:

1. The service pages' user choosers — the coverage matrix's bulk commissioner chooser, the workspace's commissioner
   chooser, the ledger's owner filter — list up to 500 users by name, username, county and specialties (1.5–3 ms
   of SQL and 1–3 ms of Python each at provincial scale). The kind ``reference`` of migration a7c3e9d2f418 now also
   moves with every column they read:

   - ``users``: besides insert, delete, truncate and ``username``, an update of ``display_name``, ``role``,
     ``county_id``, ``department_id`` or ``active`` (the sign-in bookkeeping — ``last_login_at``,
     ``failed_logins``, ``locked_until``, ``session_version``, ``password_hash`` — still does not);
   - ``user_specialties``: every write.

   The trigger on ``users`` is replaced by one with the longer column list (same name); downgrade puts the old one
   back.

2. The service dashboard's meetings held with 成渝 (the number, per county) and its names of counties, departments
   and commissioners: a new kind ``meetings``, moved by every write to ``meetings``, ``meeting_enterprises`` and
   ``meeting_partners`` (what :func:`crm.dashboard.service._meetings` reads besides an enterprise's county, which
   ``reference`` covers).

SQLite caches nothing and gets no triggers (the ``meetings`` row is added on both, as the other kinds').
"""
import sqlalchemy as sa
from alembic import op

revision = 'b4e1d7a9c3f2'
down_revision = 'f2b9c4e7a1d6'
branch_labels = None
depends_on = None

TRIGGER = 'crm_reference_bump'
USERS_BEFORE = "INSERT OR UPDATE OF username OR DELETE OR TRUNCATE"
USERS_AFTER = ("INSERT OR UPDATE OF username, display_name, role, county_id, department_id, active "
               "OR DELETE OR TRUNCATE")
ALL = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
MEETINGS = 'meetings'
MEETINGS_TRIGGER = 'crm_meetings_bump'
MEETING_TABLES = ('meetings', 'meeting_enterprises', 'meeting_partners')


def _trigger(name: str, table: str, events: str, kind: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute(f"CREATE TRIGGER {name} AFTER {events} ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{kind}')")


def upgrade():
    versions = sa.table('dashboard_data_versions', sa.column('name', sa.String), sa.column('version', sa.BigInteger))
    op.bulk_insert(versions, [{'name': MEETINGS, 'version': 0}])
    if op.get_bind().dialect.name == 'postgresql':
        _trigger(TRIGGER, 'users', USERS_AFTER, 'reference')
        _trigger(TRIGGER, 'user_specialties', ALL, 'reference')
        for table in MEETING_TABLES:
            _trigger(MEETINGS_TRIGGER, table, ALL, MEETINGS)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in MEETING_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {MEETINGS_TRIGGER} ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON user_specialties")
        _trigger(TRIGGER, 'users', USERS_BEFORE, 'reference')
    op.execute(f"DELETE FROM dashboard_data_versions WHERE name = '{MEETINGS}'")
