"""side paths of the loop: supervision notices, extensions, escalations, disputes, list changes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TIME = sqlmodel.sql.sqltypes.UTCDateTime


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'county_rules',
        sa.Column('county_code', _text(40), nullable=False),
        sa.Column('extension_limit_days', sa.Integer(), nullable=False),
        sa.Column('escalation_sign_hours', sa.Float(), nullable=False),
        sa.Column('supervision_rules', sa.JSON(), nullable=False),
        sa.Column('updated_at', TIME(), nullable=False),
        sa.ForeignKeyConstraint(['county_code'], ['jurisdiction.code']),
        sa.PrimaryKeyConstraint('county_code'),
    )
    op.create_table(
        'supervision_notice',
        sa.Column('id', BIG, nullable=False),
        sa.Column('event_id', BIG, nullable=False),
        sa.Column('assignment_id', BIG, nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('automatic', sa.Boolean(), nullable=False),
        sa.Column('rule', _text(100), nullable=True),
        sa.Column('note', _text(2000), nullable=False),
        sa.Column('issued_by_id', BIG, nullable=True),
        sa.Column('issued_at', TIME(), nullable=False),
        sa.Column('reply', _text(2000), nullable=True),
        sa.Column('replied_by_id', BIG, nullable=True),
        sa.Column('replied_at', TIME(), nullable=True),
        sa.Column('closed_at', TIME(), nullable=True),
        sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id']),
        sa.ForeignKeyConstraint(['event_id'], ['event.id']),
        sa.ForeignKeyConstraint(['issued_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['replied_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_supervision_notice_event_id', 'supervision_notice', ['event_id'])
    op.create_index('ix_supervision_notice_assignment_id', 'supervision_notice', ['assignment_id'])
    op.create_index('ix_supervision_notice_status', 'supervision_notice', ['status'])
    op.create_index(
        'uq_supervision_notice_rule_level',
        'supervision_notice',
        ['assignment_id', 'level'],
        unique=True,
        sqlite_where=sa.text('automatic'),
        postgresql_where=sa.text('automatic'),
    )
    op.create_table(
        'extension_request',
        sa.Column('id', BIG, nullable=False),
        sa.Column('event_id', BIG, nullable=False),
        sa.Column('assignment_id', BIG, nullable=False),
        sa.Column('working_days', sa.Integer(), nullable=False),
        sa.Column('reason', _text(2000), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requested_by_id', BIG, nullable=True),
        sa.Column('requested_at', TIME(), nullable=False),
        sa.Column('granted_days', sa.Integer(), nullable=True),
        sa.Column('decided_by_id', BIG, nullable=True),
        sa.Column('decided_at', TIME(), nullable=True),
        sa.Column('decision_note', _text(2000), nullable=True),
        sa.Column('handle_by_before', TIME(), nullable=True),
        sa.Column('handle_by_after', TIME(), nullable=True),
        sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id']),
        sa.ForeignKeyConstraint(['event_id'], ['event.id']),
        sa.ForeignKeyConstraint(['requested_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['decided_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_extension_request_event_id', 'extension_request', ['event_id'])
    op.create_index('ix_extension_request_assignment_id', 'extension_request', ['assignment_id'])
    op.create_index('ix_extension_request_status', 'extension_request', ['status'])
    op.create_index(
        'uq_extension_request_pending',
        'extension_request',
        ['assignment_id'],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        'escalation',
        sa.Column('id', BIG, nullable=False),
        sa.Column('event_id', BIG, nullable=False),
        sa.Column('assignment_id', BIG, nullable=False),
        sa.Column('township_code', _text(40), nullable=True),
        sa.Column('reason', _text(2000), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('called_by_id', BIG, nullable=True),
        sa.Column('called_at', TIME(), nullable=False),
        sa.Column('answered_by_id', BIG, nullable=True),
        sa.Column('answered_at', TIME(), nullable=True),
        sa.Column('department_id', BIG, nullable=True),
        sa.Column('response_assignment_id', BIG, nullable=True),
        sa.Column('respond_by', TIME(), nullable=True),
        sa.Column('responded_at', TIME(), nullable=True),
        sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id']),
        sa.ForeignKeyConstraint(['event_id'], ['event.id']),
        sa.ForeignKeyConstraint(['called_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['answered_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['department_id'], ['department.id']),
        sa.ForeignKeyConstraint(['response_assignment_id'], ['assignment.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_escalation_event_id', 'escalation', ['event_id'])
    op.create_index('ix_escalation_assignment_id', 'escalation', ['assignment_id'])
    op.create_index('ix_escalation_township_code', 'escalation', ['township_code'])
    op.create_index('ix_escalation_status', 'escalation', ['status'])
    op.create_table(
        'dispute',
        sa.Column('id', BIG, nullable=False),
        sa.Column('event_id', BIG, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('trigger', sa.String(length=32), nullable=False),
        sa.Column('reason', _text(2000), nullable=True),
        sa.Column('matter_code', _text(40), nullable=True),
        sa.Column('matter_list_id', BIG, nullable=True),
        sa.Column('opened_by_id', BIG, nullable=True),
        sa.Column('opened_at', TIME(), nullable=False),
        sa.Column('ruled_by_id', BIG, nullable=True),
        sa.Column('ruled_at', TIME(), nullable=True),
        sa.Column('minutes_ref', _text(100), nullable=True),
        sa.Column('reasoning', _text(4000), nullable=True),
        sa.Column('lead_department_id', BIG, nullable=True),
        sa.Column('co_department_ids', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['event.id']),
        sa.ForeignKeyConstraint(['matter_list_id'], ['matter_list.id']),
        sa.ForeignKeyConstraint(['opened_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['ruled_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['lead_department_id'], ['department.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dispute_event_id', 'dispute', ['event_id'])
    op.create_index('ix_dispute_status', 'dispute', ['status'])
    op.create_index(
        'uq_dispute_open_event',
        'dispute',
        ['event_id'],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        'dispute_party',
        sa.Column('dispute_id', BIG, nullable=False),
        sa.Column('assignment_id', BIG, nullable=False),
        sa.Column('department_id', BIG, nullable=False),
        sa.Column('role', _text(16), nullable=False),
        sa.Column('return_reason', _text(2000), nullable=True),
        sa.Column('return_clause', _text(200), nullable=True),
        sa.Column('clause_code', _text(40), nullable=True),
        sa.Column('returned_at', TIME(), nullable=True),
        sa.ForeignKeyConstraint(['dispute_id'], ['dispute.id']),
        sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id']),
        sa.ForeignKeyConstraint(['department_id'], ['department.id']),
        sa.PrimaryKeyConstraint('dispute_id', 'assignment_id'),
    )
    op.create_index('ix_dispute_party_department_id', 'dispute_party', ['department_id'])
    op.create_table(
        'list_change',
        sa.Column('id', BIG, nullable=False),
        sa.Column('county_code', _text(40), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('matter_code', _text(40), nullable=False),
        sa.Column('proposal', sa.JSON(), nullable=False),
        sa.Column('basis', _text(2000), nullable=True),
        sa.Column('reasons', _text(4000), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('dispute_id', BIG, nullable=True),
        sa.Column('base_list_id', BIG, nullable=True),
        sa.Column('applicant', _text(200), nullable=True),
        sa.Column('submitted_by_id', BIG, nullable=True),
        sa.Column('submitted_at', TIME(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reviewed_by_id', BIG, nullable=True),
        sa.Column('reviewed_at', TIME(), nullable=True),
        sa.Column('review_note', _text(2000), nullable=True),
        sa.Column('draft_list_id', BIG, nullable=True),
        sa.ForeignKeyConstraint(['dispute_id'], ['dispute.id']),
        sa.ForeignKeyConstraint(['base_list_id'], ['matter_list.id']),
        sa.ForeignKeyConstraint(['draft_list_id'], ['matter_list.id']),
        sa.ForeignKeyConstraint(['submitted_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['reviewed_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_list_change_county_code', 'list_change', ['county_code'])
    op.create_index('ix_list_change_matter_code', 'list_change', ['matter_code'])
    op.create_index('ix_list_change_dispute_id', 'list_change', ['dispute_id'])
    op.create_index('ix_list_change_status', 'list_change', ['status'])
    op.create_table(
        'list_change_event',
        sa.Column('change_id', BIG, nullable=False),
        sa.Column('event_id', BIG, nullable=False),
        sa.ForeignKeyConstraint(['change_id'], ['list_change.id']),
        sa.ForeignKeyConstraint(['event_id'], ['event.id']),
        sa.PrimaryKeyConstraint('change_id', 'event_id'),
    )


def downgrade() -> None:
    for table in (
        'list_change_event',
        'list_change',
        'dispute_party',
        'dispute',
        'escalation',
        'extension_request',
        'supervision_notice',
        'county_rules',
    ):
        op.drop_table(table)
