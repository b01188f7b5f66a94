"""provincial scale: 一企一档's indexes (issue 11, fifth pass)

Revision ID: a7c3e9f15b28
Revises: a7d4e2c9f1b3
Create Date: 2026-12-06 20:30:00

- ``ix_assignments_active_commissioner`` (commissioner_id, enterprise_id) WHERE ended_on IS NULL: a commissioner's
  active enterprises from the index alone (the one-to-one access check and every commissioner scope subquery);
- ``ix_meeting_enterprises_enterprise_id_meeting_id`` replaces ``ix_meeting_enterprises_enterprise_id``: an
  enterprise's meetings by index-only probes (a commissioner's meeting scope);
- ``ix_roster_removals_enterprise_id``: an enterprise's removals (名单记录).

The models say why next to each (crm/service/models.py, crm/meetings/models.py, crm/rosters/models.py).
``IF NOT EXISTS``: on a busy live database, create them first by hand with ``CREATE INDEX CONCURRENTLY`` (same
names).
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c3e9f15b28'
down_revision = 'a7d4e2c9f1b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_assignments_active_commissioner', 'assignments', ['commissioner_id', 'enterprise_id'],
                    unique=False, if_not_exists=True, sqlite_where=sa.text('ended_on IS NULL'),
                    postgresql_where=sa.text('ended_on IS NULL'))
    op.create_index('ix_meeting_enterprises_enterprise_id_meeting_id', 'meeting_enterprises',
                    ['enterprise_id', 'meeting_id'], unique=False, if_not_exists=True)
    op.drop_index('ix_meeting_enterprises_enterprise_id', table_name='meeting_enterprises')
    op.create_index('ix_roster_removals_enterprise_id', 'roster_removals', ['enterprise_id'], unique=False,
                    if_not_exists=True)


def downgrade():
    op.drop_index('ix_roster_removals_enterprise_id', table_name='roster_removals')
    op.create_index('ix_meeting_enterprises_enterprise_id', 'meeting_enterprises', ['enterprise_id'], unique=False)
    op.drop_index('ix_meeting_enterprises_enterprise_id_meeting_id', table_name='meeting_enterprises')
    op.drop_index('ix_assignments_active_commissioner', table_name='assignments')
