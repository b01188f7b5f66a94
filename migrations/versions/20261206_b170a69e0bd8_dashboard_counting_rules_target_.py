"""dashboard: counting rules, target snapshots; parks, departments and targets kept; figures' 规上; 专项资金

Revision ID: b170a69e0bd8
Revises: 31f10eb30361
Create Date: 2026-12-06 05:38:37.157467

The parks' recognition year becomes a date (31 December of that year: the latest day it can have been); the new
NOT NULL columns of existing tables are added empty, filled, then made NOT NULL. The audit vocabulary and the
policy kinds (专项资金) widen their CHECKs.

"""
import datetime

from alembic import op
import sqlalchemy as sa

OLD_ENTITIES = ('user', 'enterprise', 'contact', 'figure', 'partner_link', 'roster_edition', 'holiday_year',
                'assignment', 'interaction', 'service_request', 'policy_delivery', 'meeting', 'partner',
                'calendar_feed')
NEW_ENTITIES = OLD_ENTITIES + ('park', 'department', 'target', 'counting_rules')
OLD_ACTIONS = ('create', 'update', 'delete', 'activate', 'deactivate', 'password_reset', 'open', 'add_entry',
               'update_entry', 'remove_entry', 'submit', 'return', 'publish', 'supersede', 'seed', 'import',
               'add_day', 'delete_day', 'handover', 'end', 'transition', 'deliver', 'cancel', 'reopen',
               'participants', 'agreement', 'follow_up', 'revoke')
NEW_ACTIONS = OLD_ACTIONS + ('freeze',)
OLD_POLICY = ('税收', '用地', '用电', '用气', '用水', '用矿', '融资', '引才')
NEW_POLICY = OLD_POLICY + ('专项资金',)
# New NOT NULL columns of existing tables: (table, column, type, value for the rows already there).
NOW = sa.func.current_timestamp()
FILLED = [
    ('departments', 'version', sa.Integer(), 1),
    ('enterprise_partners', 'is_demo', sa.Boolean(), False),
    ('parks', 'kind', sa.String(length=32), 'industrial_park'),
    ('parks', 'recognition_document', sa.String(length=200), ''),
    ('parks', 'chengyu_counterpart', sa.String(length=120), ''),
    ('parks', 'is_demo', sa.Boolean(), False),
    ('parks', 'created_at', sa.DateTime(timezone=True), NOW),
    ('parks', 'updated_at', sa.DateTime(timezone=True), NOW),
    ('parks', 'version', sa.Integer(), 1),
    ('plan_targets', 'updated_at', sa.DateTime(timezone=True), NOW),
    ('plan_targets', 'version', sa.Integer(), 1),
    ('targets', 'updated_at', sa.DateTime(timezone=True), NOW),
    ('targets', 'version', sa.Integer(), 1),
]


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _widen(entities, actions, policy, old_entities, old_actions, old_policy):
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('entity_type', existing_type=_enum(old_entities, 'audit_entity'),
                              type_=_enum(entities, 'audit_entity'), existing_nullable=False)
        batch_op.alter_column('action', existing_type=_enum(old_actions, 'audit_action'),
                              type_=_enum(actions, 'audit_action'), existing_nullable=False)
    with op.batch_alter_table('policy_deliveries', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=_enum(old_policy, 'policy_kind'),
                              type_=_enum(policy, 'policy_kind'), existing_nullable=False)


# revision identifiers, used by Alembic.
revision = 'b170a69e0bd8'
down_revision = '31f10eb30361'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('target_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_snapshots')),
    sa.UniqueConstraint('year', name=op.f('uq_target_snapshots_year'))
    )
    op.create_table('counting_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('output_measure', sa.Enum('output_value', 'chengyu_output_value', name='output_measure', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('settled_since', sa.Date(), nullable=False),
    sa.Column('trajectory_start', sa.Date(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_counting_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counting_rules'))
    )
    with op.batch_alter_table('enterprise_figures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('above_scale', sa.Boolean(), nullable=True))
    with op.batch_alter_table('parks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recognised_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('enclave_mode', _enum(('合建', '共建', '租借'), 'enclave_mode'), nullable=True))
    for table in sorted({t for t, *_ in FILLED}):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, type_, _value in (f for f in FILLED if f[0] == table):
                batch_op.add_column(sa.Column(column, type_, nullable=True))
        for _, column, type_, value in (f for f in FILLED if f[0] == table):
            rows = sa.table(table, sa.column(column, type_))
            op.execute(rows.update().values({column: value}))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, type_, _value in (f for f in FILLED if f[0] == table):
                if table == 'parks' and column == 'kind':
                    type_ = _enum(('development_zone', 'industrial_park', 'enclave'), 'park_kind')
                    batch_op.alter_column(column, existing_type=sa.String(length=32), type_=type_, nullable=False)
                else:
                    batch_op.alter_column(column, existing_type=type_, nullable=False)
    parks = sa.table('parks', sa.column('recognised_year', sa.Integer), sa.column('recognised_on', sa.Date))
    for (year,) in op.get_bind().execute(sa.select(parks.c.recognised_year).where(
            parks.c.recognised_year.isnot(None)).distinct()).all():
        op.execute(parks.update().where(parks.c.recognised_year == year).values(recognised_on=sa.literal(
            datetime.date(year, 12, 31), sa.Date)))
    with op.batch_alter_table('parks', schema=None) as batch_op:
        batch_op.drop_column('recognised_year')
    _widen(NEW_ENTITIES, NEW_ACTIONS, NEW_POLICY, OLD_ENTITIES, OLD_ACTIONS, OLD_POLICY)


def downgrade():
    audit = sa.table('audit_log', sa.column('entity_type', sa.String), sa.column('action', sa.String))
    op.execute(audit.delete().where(audit.c.entity_type.in_(NEW_ENTITIES[len(OLD_ENTITIES):])
                                    | audit.c.action.in_(NEW_ACTIONS[len(OLD_ACTIONS):])))
    deliveries = sa.table('policy_deliveries', sa.column('kind', sa.String))
    op.execute(deliveries.delete().where(deliveries.c.kind.in_(NEW_POLICY[len(OLD_POLICY):])))
    _widen(OLD_ENTITIES, OLD_ACTIONS, OLD_POLICY, NEW_ENTITIES, NEW_ACTIONS, NEW_POLICY)
    with op.batch_alter_table('targets', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('updated_at')

    with op.batch_alter_table('plan_targets', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('updated_at')

    with op.batch_alter_table('parks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recognised_year', sa.INTEGER(), nullable=True))
        # the enum columns lose their CHECKs first, or SQLite's table copy keeps a CHECK on a dropped column
        batch_op.alter_column('kind', existing_type=_enum(('development_zone', 'industrial_park', 'enclave'),
                                                          'park_kind'), type_=sa.String(length=32))
        batch_op.alter_column('enclave_mode', existing_type=_enum(('合建', '共建', '租借'), 'enclave_mode'),
                              type_=sa.String(length=32))
    parks = sa.table('parks', sa.column('recognised_year', sa.Integer), sa.column('recognised_on', sa.Date))
    for (day,) in op.get_bind().execute(sa.select(parks.c.recognised_on).where(
            parks.c.recognised_on.isnot(None)).distinct()).all():
        op.execute(parks.update().where(parks.c.recognised_on == day).values(recognised_year=day.year))
    with op.batch_alter_table('parks', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('is_demo')
        batch_op.drop_column('chengyu_counterpart')
        batch_op.drop_column('enclave_mode')
        batch_op.drop_column('recognition_document')
        batch_op.drop_column('recognised_on')
        batch_op.drop_column('kind')

    with op.batch_alter_table('enterprise_partners', schema=None) as batch_op:
        batch_op.drop_column('is_demo')

    with op.batch_alter_table('enterprise_figures', schema=None) as batch_op:
        batch_op.drop_column('above_scale')

    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('version')

    op.drop_table('counting_rules')
    op.drop_table('target_snapshots')
    # ### end Alembic commands ###
