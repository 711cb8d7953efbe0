"""foundation: jurisdictions, departments, matter lists

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 10:47:12.387016
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('jurisdiction',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('parent_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('geometry_wkb', sa.LargeBinary(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['jurisdiction.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('jurisdiction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jurisdiction_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_jurisdiction_parent_code'), ['parent_code'], unique=False)

    op.create_table('matter_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source_document', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source_file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('superseded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('county_code', 'version')
    )
    with op.batch_alter_table('matter_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matter_list_county_code'), ['county_code'], unique=False)

    op.create_table('platform',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code'),
    sa.UniqueConstraint('name')
    )
    # The four platforms most counties start from; renamed or extended as data later.
    op.bulk_insert(
        sa.table('platform', sa.column('code', sa.String), sa.column('name', sa.String),
                 sa.column('sort_order', sa.Integer)),
        [
            {'code': 'zongzhi', 'name': '综治工作', 'sort_order': 1},
            {'code': 'shichang', 'name': '市场监管', 'sort_order': 2},
            {'code': 'zhifa', 'name': '综合执法', 'sort_order': 3},
            {'code': 'bianmin', 'name': '便民服务', 'sort_order': 4},
        ],
    )
    op.create_table('department',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('short_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('township_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('platform_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('authorised_staff', sa.Integer(), nullable=True),
    sa.Column('actual_staff', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['platform_code'], ['platform.code'], ),
    sa.ForeignKeyConstraint(['township_code'], ['jurisdiction.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_department_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_department_township_code'), ['township_code'], unique=False)

    op.create_table('department_coverage',
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('township_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['township_code'], ['jurisdiction.code'], ),
    sa.PrimaryKeyConstraint('department_id', 'township_code')
    )
    op.create_table('matter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('platform_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('legal_basis', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lead_department_id', sa.Integer(), nullable=True),
    sa.Column('department_duties', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('township_duties', sa.JSON(), nullable=False),
    sa.Column('township_duties_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('handling_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sign_hours', sa.Float(), nullable=True),
    sa.Column('handle_days', sa.Float(), nullable=True),
    sa.Column('urgent_sign_hours', sa.Float(), nullable=True),
    sa.Column('urgent_handle_hours', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['lead_department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['list_id'], ['matter_list.id'], ),
    sa.ForeignKeyConstraint(['platform_code'], ['platform.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('list_id', 'code')
    )
    with op.batch_alter_table('matter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matter_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_matter_list_id'), ['list_id'], unique=False)

    op.create_table('matter_cooperator',
    sa.Column('matter_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['matter_id'], ['matter.id'], ),
    sa.PrimaryKeyConstraint('matter_id', 'department_id')
    )


def downgrade() -> None:
    op.drop_table('matter_cooperator')
    with op.batch_alter_table('matter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matter_list_id'))
        batch_op.drop_index(batch_op.f('ix_matter_code'))

    op.drop_table('matter')
    op.drop_table('department_coverage')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_township_code'))
        batch_op.drop_index(batch_op.f('ix_department_parent_id'))
        batch_op.drop_index(batch_op.f('ix_department_kind'))

    op.drop_table('department')
    op.drop_table('platform')
    with op.batch_alter_table('matter_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matter_list_county_code'))

    op.drop_table('matter_list')
    with op.batch_alter_table('jurisdiction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jurisdiction_parent_code'))
        batch_op.drop_index(batch_op.f('ix_jurisdiction_level'))

    op.drop_table('jurisdiction')
