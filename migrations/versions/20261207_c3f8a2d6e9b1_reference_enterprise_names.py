"""data version 'reference' also moves with an enterprise's name, pinyin, USCC and demo flag (issue 11)

Revision ID: c3f8a2d6e9b1
Revises: b4e1d7a9c3f2
Create Date: 2026-12-07 03:00:00

The service pages' rows are now kept per process too (crm/core/cache.py; the seventh provincial-scale pass): the
coordinators' and commissioners' workspace pages, the coverage matrix's page and the ledger's page. Besides the
records the kinds ``assignments``, ``interactions`` and ``requests`` cover, those rows show an enterprise's name,
its pinyin order, its USCC and its demo badge, which the kind ``reference`` of migration a7c3e9d2f418 did not follow
(only an enterprise's county and cluster). Its trigger on ``enterprises`` is replaced by one (same name) that also
fires on an update of ``name``, ``name_pinyin``, ``uscc`` or ``is_demo``; the enterprises' other columns (edited all
day: products, figures, contacts…) still do not move it. Downgrade puts the old trigger back.

SQLite caches nothing and gets no triggers.
"""
from alembic import op

revision = 'c3f8a2d6e9b1'
down_revision = 'b4e1d7a9c3f2'
branch_labels = None
depends_on = None

TRIGGER = 'crm_reference_bump'
BEFORE = "INSERT OR UPDATE OF county_id, cluster_id OR DELETE OR TRUNCATE"
AFTER = "INSERT OR UPDATE OF county_id, cluster_id, name, name_pinyin, uscc, is_demo OR DELETE OR TRUNCATE"


def _trigger(events: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON enterprises")
    op.execute(f"CREATE TRIGGER {TRIGGER} AFTER {events} ON enterprises "
               f"FOR EACH STATEMENT EXECUTE FUNCTION crm_dashboard_bump('reference')")


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _trigger(AFTER)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _trigger(BEFORE)
