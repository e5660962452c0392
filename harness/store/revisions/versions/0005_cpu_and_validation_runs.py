"""cpu seconds and deciding stage of evaluations, validation runs

Revision ID: 0005
Revises: 0004
Created: 2026-12-02 14:57:47.534587
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "validation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=300), nullable=False),
        sa.Column("task_hash", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=False),
        sa.Column("patch", sa.String(length=10), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
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
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("against", sa.JSON(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "task_hash", "spec", "patch", "repeat"),
    )
    with op.batch_alter_table("validation_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_validation_runs_instance_id"), ["instance_id"], unique=False
        )

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cpu_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("decided_by_stage", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("decided_by_stage")
        batch_op.drop_column("cpu_seconds")

    with op.batch_alter_table("validation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_runs_instance_id"))

    op.drop_table("validation_runs")
