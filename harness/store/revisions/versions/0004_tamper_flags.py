"""tamper flags and candidate faults of each evaluation

Revision ID: 0004
Revises: 0003
Created: 2026-12-02 14:14:28.343556
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("suspicious", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("suspicion", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("fault", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("fault")
        batch_op.drop_column("suspicion")
        batch_op.drop_column("suspicious")
