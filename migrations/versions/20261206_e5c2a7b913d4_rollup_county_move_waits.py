"""rollup: a change of an enterprise's county waits for the transactions writing its 服务记录 (issue 11)

Revision ID: e5c2a7b913d4
Revises: d8a3f1c6b2e4
Create Date: 2026-12-06 16:40:00

PostgreSQL only (SQLite's transactions hold the write lock: nothing runs beside them).

The race this closes: transaction A inserts a 服务记录 for enterprise E; its foreign-key check takes
``FOR KEY SHARE`` on E's row, which does not conflict with the ``FOR NO KEY UPDATE`` of transaction B changing
E's ``county_id``. A's rollup trigger reads E's county as committed (the old one) and counts the record there;
B's trigger moves E's records to the new county from a snapshot that cannot see A's uncommitted record. Both
commit: the record stays counted in the old county until ``flask dashboard rebuild-rollup``.

The fix puts the wait on the rare write: before moving, B's trigger locks E's row ``FOR UPDATE``, which conflicts
with every ``FOR KEY SHARE``. So B waits until each transaction that has written a record for E has ended, and its
move (each statement of a volatile function takes a new snapshot) then sees their records. A writer that comes
after B's lock waits in its foreign-key check until B commits, and its trigger then reads the new county. Writers
of 服务记录 take no lock beyond their foreign-key check (no lock upgrade, no new deadlock between writers); a
county change waits at most for the writers of that enterprise's records. Deleting an enterprise already locks
its row ``FOR UPDATE``.
"""
from alembic import op


revision = 'e5c2a7b913d4'
down_revision = 'd8a3f1c6b2e4'
branch_labels = None
depends_on = None

_BODY = """
CREATE OR REPLACE FUNCTION crm_interaction_days_enterprise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM crm_interaction_days_move(OLD.id, OLD.county_id, -1);
    RETURN OLD;
  END IF;{wait}
  PERFORM crm_interaction_days_move(OLD.id, OLD.county_id, -1);
  PERFORM crm_interaction_days_move(NEW.id, NEW.county_id, 1);
  RETURN NULL;
END $$
"""
WAIT = """
  -- wait for the transactions that hold E's row FOR KEY SHARE (their 服务记录): see the migration's docstring
  PERFORM 1 FROM enterprises WHERE id = NEW.id FOR UPDATE;"""


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_BODY.format(wait=WAIT))


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_BODY.format(wait=''))
