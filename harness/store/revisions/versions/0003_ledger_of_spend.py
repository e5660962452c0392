"""ledger of spend: model calls and the samples attempts used

Revision ID: 0003
Revises: 0002
Created: 2026-12-02 14:08:19.120044
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "model_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=200), nullable=True),
        sa.Column("instance_id", sa.String(length=300), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("attempt_indices", sa.JSON(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("dollars", sa.Float(), nullable=True),
        sa.Column("dollars_when_made", sa.Float(), nullable=True),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_calls_cache_key"), ["cache_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_calls_run_id"), ["run_id"], unique=False)

    op.create_table(
        "sample_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["model_calls.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", "position"),
    )
    with op.batch_alter_table("sample_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sample_uses_attempt_id"), ["attempt_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sample_uses_call_id"), ["call_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sample_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_uses_call_id"))
        batch_op.drop_index(batch_op.f("ix_sample_uses_attempt_id"))

    op.drop_table("sample_uses")
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_calls_run_id"))
        batch_op.drop_index(batch_op.f("ix_model_calls_cache_key"))

    op.drop_table("model_calls")
