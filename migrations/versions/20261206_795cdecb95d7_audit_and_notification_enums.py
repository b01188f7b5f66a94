"""audit entity types and actions, notification kinds: enumerations with a CHECK

Revision ID: 795cdecb95d7
Revises: 66e4620d1687
Create Date: 2026-12-06 02:30:00

The columns were free VARCHAR(40) strings; every value the code writes is in the lists below (a row with any
other value makes the upgrade fail on the new CHECK, which is what we want to learn).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '795cdecb95d7'
down_revision = '66e4620d1687'
branch_labels = None
depends_on = None

AUDIT_ENTITIES = ('user', 'enterprise', 'contact', 'figure', 'partner_link', 'roster_edition', 'holiday_year',
                  'assignment', 'interaction', 'service_request', 'policy_delivery')
AUDIT_ACTIONS = ('create', 'update', 'delete', 'activate', 'deactivate', 'password_reset', 'open', 'add_entry',
                 'update_entry', 'remove_entry', 'submit', 'return', 'publish', 'supersede', 'seed', 'import',
                 'add_day', 'delete_day', 'handover', 'end', 'transition', 'deliver', 'cancel', 'reopen')
NOTIFICATION_KINDS = ('refresh_opened', 'refresh_deadline', 'assignment', 'assignment_handover', 'assignment_end',
                      'assignment_unlisted', 'assignment_gap', 'request_overdue', 'request_escalated',
                      'policy_overdue', 'visit_cadence')


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('entity_type', existing_type=sa.String(length=40),
                              type_=_enum(AUDIT_ENTITIES, 'audit_entity'), existing_nullable=False)
        batch_op.alter_column('action', existing_type=sa.String(length=40),
                              type_=_enum(AUDIT_ACTIONS, 'audit_action'), existing_nullable=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=40),
                              type_=_enum(NOTIFICATION_KINDS, 'notification_kind'), existing_nullable=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=_enum(NOTIFICATION_KINDS, 'notification_kind'),
                              type_=sa.String(length=40), existing_nullable=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('action', existing_type=_enum(AUDIT_ACTIONS, 'audit_action'),
                              type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('entity_type', existing_type=_enum(AUDIT_ENTITIES, 'audit_entity'),
                              type_=sa.String(length=40), existing_nullable=False)
