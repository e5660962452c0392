"""evaluation_reruns: every run of a candidate's tests on a flaky task (run --reruns N)

Revision ID: 0006
Revises: 0005
Created: 2026-12-02 17:17:36.060570
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table: no existing rows, so no server defaults are needed.
    op.create_table(
        "evaluation_reruns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "RESOLVED",
                "UNRESOLVED",
                "EMPTY_PATCH",
                "PATCH_FAILED",
                "TEST_PATCH_FAILED",
                "TIMEOUT",
                "ERROR",
                name="evalstatus",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("failing", sa.JSON(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("output_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evaluation_id", "index"),
    )
    with op.batch_alter_table("evaluation_reruns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_reruns_evaluation_id"), ["evaluation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluation_reruns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_reruns_evaluation_id"))

    op.drop_table("evaluation_reruns")
