"""provincial scale: a county's enterprise list sorted by an index (issue 11)

Revision ID: d1e8f3a2b7c5
Revises: c4d7e2a91f03
Create Date: 2026-12-06 14:00:00

``ix_enterprises_county_id_name_pinyin`` (county_id, name_pinyin, id) serves a county-scoped list in its default
order (crm/enterprises/models.py says why) and every lookup by county, so it replaces ``ix_enterprises_county_id``.
``IF NOT EXISTS``: on a busy live database, create it first by hand with ``CREATE INDEX CONCURRENTLY`` (same name).
"""
from alembic import op


revision = 'd1e8f3a2b7c5'
down_revision = 'c4d7e2a91f03'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_enterprises_county_id_name_pinyin', 'enterprises', ['county_id', 'name_pinyin', 'id'],
                    unique=False, if_not_exists=True)
    op.drop_index('ix_enterprises_county_id', table_name='enterprises')


def downgrade():
    op.create_index('ix_enterprises_county_id', 'enterprises', ['county_id'], unique=False)
    op.drop_index('ix_enterprises_county_id_name_pinyin', table_name='enterprises')
