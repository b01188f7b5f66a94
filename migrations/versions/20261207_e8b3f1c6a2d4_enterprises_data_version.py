"""data version 'enterprises' (an enterprise's record and the names it shows); 'meetings' also moves with the
officials booked (issue 11)

Revision ID: e8b3f1c6a2d4
Revises: c3f8a2d6e9b1
Create Date: 2026-12-07 06:40:00

The enterprise list's pages (the page and ``GET /api/v1/enterprises``) are now kept per process (crm/core/cache.py;
the eighth provincial-scale pass) while what they read is unchanged. They show and filter by more of an
enterprise than the kind ``reference`` follows (its scale, status, category, park) and sort by ``updated_at``,
which every edit moves; the API's rows carry the contacts, figures and partner links. A new kind ``enterprises``
moves with every write to ``enterprises`` (nothing but an edit of the record writes it: the service, the lists and
the meetings keep their own tables), ``enterprise_contacts``, ``enterprise_figures``, ``enterprise_partners``, and
the names a row shows or a filter matches beside the counties and clusters (``parks``, ``supply_categories``,
``partners``).

A commissioner reads the meetings of their enterprises and those they are booked into as an official
(crm/meetings/access.py): a leader's or a commissioner's home and calendar feed are now kept too, so the kind
``meetings`` of migration b4e1d7a9c3f2 also moves with every write to ``meeting_officials``.

SQLite caches nothing and gets no triggers (the row is added on both, as the other kinds').
"""
import sqlalchemy as sa
from alembic import op

revision = 'e8b3f1c6a2d4'
down_revision = 'c3f8a2d6e9b1'
branch_labels = None
depends_on = None

KIND = 'enterprises'
TRIGGER = 'crm_enterprises_bump'
TABLES = ('enterprises', 'enterprise_contacts', 'enterprise_figures', 'enterprise_partners', 'parks',
          'supply_categories', 'partners')


MEETINGS_TRIGGER = 'crm_meetings_bump'
OFFICIALS = 'meeting_officials'


def upgrade():
    versions = sa.table('dashboard_data_versions', sa.column('name', sa.String), sa.column('version', sa.BigInteger))
    op.bulk_insert(versions, [{'name': KIND, 'version': 0}])
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
            op.execute(f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('{KIND}')")
        op.execute(f"DROP TRIGGER IF EXISTS {MEETINGS_TRIGGER} ON {OFFICIALS}")
        op.execute(f"CREATE TRIGGER {MEETINGS_TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {OFFICIALS} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('meetings')")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"DROP TRIGGER IF EXISTS {MEETINGS_TRIGGER} ON {OFFICIALS}")
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    op.execute(f"DELETE FROM dashboard_data_versions WHERE name = '{KIND}'")
