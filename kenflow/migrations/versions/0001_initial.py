"""The read model's first schema: zones and their members, agreements, visions, KPIs and
evaluations; the audit trail; municipalities; notices and delivery attempts; recipients; API
tokens; the scheduler's lease.

Written for both SQLite and PostgreSQL: plain types only (datetimes are TIMESTAMP WITH TIME
ZONE on PostgreSQL, DATETIME on SQLite; kenflow.db.tables.UTCDateTime keeps them UTC), indexes
created in batch mode so later revisions can follow the same pattern on SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def TZ() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('token_hash', sa.String(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('code', sa.String(), nullable=True),
    sa.Column('label', sa.String(), nullable=True),
    sa.Column('created_at', TZ(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.String(), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('at', TZ(), nullable=False),
    sa.Column('on', sa.Date(), nullable=True),
    sa.Column('act', sa.String(), nullable=False),
    sa.Column('actor_role', sa.String(), nullable=False),
    sa.Column('actor_code', sa.String(), nullable=True),
    sa.Column('actor_name', sa.String(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('result', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('zone_id', 'seq', name='uq_audit_zone_seq')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_zone_id'), ['zone_id'], unique=False)
    op.create_table('municipality',
    sa.Column('code', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('prefecture_code', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('designated_city', sa.Boolean(), nullable=False),
    sa.Column('core_city', sa.Boolean(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('day_night_ratio', sa.Float(), nullable=True),
    sa.Column('commute_share_to_metro', sa.Float(), nullable=True),
    sa.Column('former_cities_json', sa.Text(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('municipality', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_municipality_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_municipality_prefecture_code'), ['prefecture_code'], unique=False)
    op.create_table('notice',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('document', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', TZ(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('delivered_at', TZ(), nullable=True),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_zone_id'), ['zone_id'], unique=False)
    op.create_table('recipient',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('label', sa.String(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('updated_at', TZ(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('scheduler_lock',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('heartbeat_at', TZ(), nullable=False),
    sa.Column('expires_at', TZ(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('zone',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('programme', sa.String(), nullable=False),
    sa.Column('phase', sa.String(), nullable=False),
    sa.Column('central_codes', sa.String(), nullable=False),
    sa.Column('prefecture_codes', sa.String(), nullable=False),
    sa.Column('single_city', sa.Boolean(), nullable=False),
    sa.Column('declared_on', sa.Date(), nullable=True),
    sa.Column('formed_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('vision_version', sa.Integer(), nullable=True),
    sa.Column('vision_status', sa.String(), nullable=True),
    sa.Column('vision_period_end_fy', sa.Integer(), nullable=True),
    sa.Column('current_fy', sa.Integer(), nullable=True),
    sa.Column('kpi_behind', sa.Integer(), nullable=False),
    sa.Column('notices_failed', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', TZ(), nullable=False),
    sa.Column('digest', sa.Text(), nullable=False),
    sa.Column('state_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('zone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_phase'), ['phase'], unique=False)
        batch_op.create_index(batch_op.f('ix_zone_programme'), ['programme'], unique=False)
    op.create_table('agreement',
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('neighbour_code', sa.String(), nullable=False),
    sa.Column('neighbour_name', sa.String(), nullable=False),
    sa.Column('hub_code', sa.String(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('drafted_on', sa.Date(), nullable=False),
    sa.Column('concluded_on', sa.Date(), nullable=True),
    sa.Column('abolition_effective_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('cross_prefecture', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('zone_id', 'neighbour_code')
    )
    op.create_table('delivery_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_key', sa.String(), nullable=False),
    sa.Column('at', TZ(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['notice_key'], ['notice.key'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_notice_key'), ['notice_key'], unique=False)
    op.create_table('kpi',
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('kpi_id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('perspective', sa.String(), nullable=False),
    sa.Column('field', sa.String(), nullable=False),
    sa.Column('unit', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('target_version', sa.Integer(), nullable=False),
    sa.Column('baseline_value', sa.Float(), nullable=False),
    sa.Column('baseline_fy', sa.Integer(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=False),
    sa.Column('target_fy', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('zone_id', 'kpi_id')
    )
    op.create_table('kpi_evaluation',
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('kpi_id', sa.String(), nullable=False),
    sa.Column('fy', sa.Integer(), nullable=False),
    sa.Column('target_version', sa.Integer(), nullable=False),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('estimate', sa.Boolean(), nullable=False),
    sa.Column('achievement_rate', sa.Float(), nullable=True),
    sa.Column('expected_value', sa.Float(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('grade', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('zone_id', 'kpi_id', 'fy')
    )
    with op.batch_alter_table('kpi_evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_evaluation_fy'), ['fy'], unique=False)
    op.create_table('vision',
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('revision', sa.Boolean(), nullable=False),
    sa.Column('drafted_on', sa.Date(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('period_start_fy', sa.Integer(), nullable=False),
    sa.Column('period_end_fy', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('zone_id', 'version')
    )
    op.create_table('zone_member',
    sa.Column('zone_id', sa.String(), nullable=False),
    sa.Column('municipality_code', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('prefecture_code', sa.String(), nullable=False),
    sa.Column('agreement_status', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('zone_id', 'municipality_code')
    )
    with op.batch_alter_table('zone_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_member_municipality_code'), ['municipality_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('zone_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_member_municipality_code'))
    op.drop_table('zone_member')
    op.drop_table('vision')
    with op.batch_alter_table('kpi_evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kpi_evaluation_fy'))
    op.drop_table('kpi_evaluation')
    op.drop_table('kpi')
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_notice_key'))
    op.drop_table('delivery_attempt')
    op.drop_table('agreement')
    with op.batch_alter_table('zone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_programme'))
        batch_op.drop_index(batch_op.f('ix_zone_phase'))
    op.drop_table('zone')
    op.drop_table('scheduler_lock')
    op.drop_table('recipient')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_zone_id'))
        batch_op.drop_index(batch_op.f('ix_notice_status'))
    op.drop_table('notice')
    with op.batch_alter_table('municipality', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_municipality_prefecture_code'))
        batch_op.drop_index(batch_op.f('ix_municipality_name'))
    op.drop_table('municipality')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_zone_id'))
        batch_op.drop_index(batch_op.f('ix_audit_at'))
    op.drop_table('audit')
    op.drop_table('api_token')
