"""service dashboard: indexes for 走访覆盖 (issue 11, fifth pass)

Revision ID: a7d4e2c9f1b3
Revises: e5b8d2f4a9c1
Create Date: 2026-12-06 20:10:00

The service dashboard's 走访覆盖 counts, per commissioner, the enterprises assigned to them that they visited in the
period (crm/dashboard/service.py, ``_visited_counts``). It now starts from the period's visits and probes each
(enterprise, author) pair's assignment:

- ``ix_interactions_visits_occurred_on`` (occurred_on, created_by_id, enterprise_id) WHERE channel = 'visit': the
  period's visits from the index alone;
- ``ix_assignments_enterprise_id_commissioner_id`` (enterprise_id, commissioner_id), which replaces
  ``ix_assignments_enterprise_id`` (its first column serves every reader of that one).

``IF NOT EXISTS``: on a busy live database, create the indexes first by hand with ``CREATE INDEX CONCURRENTLY``
(same names).
"""
import sqlalchemy as sa
from alembic import op

revision = 'a7d4e2c9f1b3'
down_revision = 'e5b8d2f4a9c1'
branch_labels = None
depends_on = None

VISIT = "channel = 'visit'"


def upgrade():
    op.create_index('ix_interactions_visits_occurred_on', 'interactions',
                    ['occurred_on', 'created_by_id', 'enterprise_id'], unique=False, if_not_exists=True,
                    sqlite_where=sa.text(VISIT), postgresql_where=sa.text(VISIT))
    op.create_index('ix_assignments_enterprise_id_commissioner_id', 'assignments',
                    ['enterprise_id', 'commissioner_id'], unique=False, if_not_exists=True)
    op.drop_index('ix_assignments_enterprise_id', table_name='assignments')


def downgrade():
    op.create_index('ix_assignments_enterprise_id', 'assignments', ['enterprise_id'], unique=False)
    op.drop_index('ix_assignments_enterprise_id_commissioner_id', table_name='assignments')
    op.drop_index('ix_interactions_visits_occurred_on', table_name='interactions')
