"""Baseline: the schema as it was when the store began keeping revisions (December 2026).

Stores made before then were created by create_all with no version table; on first open they
get the tables they lack from here (a store from before the response cache or the validations
table gets those) and are stamped at this revision.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "model_responses" not in existing:
        op.create_table(
            "model_responses",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("model", sa.String(length=300), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.Column("sample", sa.String(length=200), nullable=False),
            sa.Column("params", sa.JSON(), nullable=False),
            sa.Column("texts", sa.JSON(), nullable=False),
            sa.Column("finish_reasons", sa.JSON(), nullable=False),
            sa.Column("input_tokens", sa.Integer(), nullable=False),
            sa.Column("output_tokens", sa.Integer(), nullable=False),
            sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
            sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
            sa.Column("dollars", sa.Float(), nullable=True),
            sa.Column("seconds", sa.Float(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
        with op.batch_alter_table("model_responses", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_model_responses_model"), ["model"], unique=False)

    if "runs" not in existing:
        op.create_table(
            "runs",
            sa.Column("id", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("agent", sa.String(length=200), nullable=False),
            sa.Column("agent_hash", sa.String(length=64), nullable=False),
            sa.Column("k", sa.Integer(), nullable=False),
            sa.Column("config", sa.JSON(), nullable=False),
            sa.Column("code_revision", sa.String(length=64), nullable=False),
            sa.Column("package_versions", sa.JSON(), nullable=False),
            sa.Column("vcpu_hour_dollars", sa.Float(), nullable=False),
            sa.Column("status", sa.String(length=40), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )

    if "tasks" not in existing:
        op.create_table(
            "tasks",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("instance_id", sa.String(length=300), nullable=False),
            sa.Column("content_hash", sa.String(length=64), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("row", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("instance_id", "content_hash"),
        )
        with op.batch_alter_table("tasks", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_tasks_instance_id"), ["instance_id"], unique=False)

    if "validations" not in existing:
        op.create_table(
            "validations",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("instance_id", sa.String(length=300), nullable=False),
            sa.Column("task_hash", sa.String(length=64), nullable=False),
            sa.Column("spec", sa.String(length=200), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("version", sa.String(length=40), nullable=False),
            sa.Column("env_ok", sa.Boolean(), nullable=False),
            sa.Column("gold_resolves", sa.Boolean(), nullable=False),
            sa.Column("empty_unresolved", sa.Boolean(), nullable=False),
            sa.Column("flaky_tests", sa.JSON(), nullable=False),
            sa.Column("repeats", sa.Integer(), nullable=False),
            sa.Column("valid", sa.Boolean(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.Column("seconds", sa.Double(), nullable=False),
            sa.Column("harness_revision", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("instance_id", "task_hash", "spec"),
        )
        with op.batch_alter_table("validations", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_validations_instance_id"), ["instance_id"], unique=False
            )

    if "evaluations" not in existing:
        op.create_table(
            "evaluations",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("task_id", sa.Integer(), nullable=False),
            sa.Column("patch_hash", sa.String(length=64), nullable=False),
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
            sa.Column("apply_method", sa.String(length=40), nullable=False),
            sa.Column("patch", sa.Text(), nullable=False),
            sa.Column("eval_script", sa.Text(), nullable=False),
            sa.Column("test_output", sa.Text(), nullable=False),
            sa.Column("log", sa.Text(), nullable=False),
            sa.Column("seconds", sa.Float(), nullable=False),
            sa.Column("compute_seconds", sa.Float(), nullable=False),
            sa.Column("harness_revision", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["task_id"],
                ["tasks.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("task_id", "patch_hash"),
        )
        with op.batch_alter_table("evaluations", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_evaluations_task_id"), ["task_id"], unique=False)

    if "run_tasks" not in existing:
        op.create_table(
            "run_tasks",
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column("task_id", sa.Integer(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["runs.id"],
            ),
            sa.ForeignKeyConstraint(
                ["task_id"],
                ["tasks.id"],
            ),
            sa.PrimaryKeyConstraint("run_id", "task_id"),
        )

    if "attempts" not in existing:
        op.create_table(
            "attempts",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.String(length=200), nullable=False),
            sa.Column("task_id", sa.Integer(), nullable=False),
            sa.Column("index", sa.Integer(), nullable=False),
            sa.Column("seed", sa.Integer(), nullable=False),
            sa.Column("agent_hash", sa.String(length=64), nullable=False),
            sa.Column("patch", sa.Text(), nullable=False),
            sa.Column("patch_hash", sa.String(length=64), nullable=False),
            sa.Column("input_tokens", sa.Integer(), nullable=False),
            sa.Column("output_tokens", sa.Integer(), nullable=False),
            sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
            sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
            sa.Column("model_dollars", sa.Float(), nullable=True),
            sa.Column("compute_seconds", sa.Float(), nullable=False),
            sa.Column("seconds", sa.Float(), nullable=False),
            sa.Column("error_kind", sa.String(length=20), nullable=True),
            sa.Column("error_message", sa.Text(), nullable=False),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.Column("trajectory", sa.JSON(), nullable=True),
            sa.Column("evaluation_id", sa.Integer(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["evaluation_id"],
                ["evaluations.id"],
            ),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["runs.id"],
            ),
            sa.ForeignKeyConstraint(
                ["task_id"],
                ["tasks.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("run_id", "task_id", "index"),
        )
        with op.batch_alter_table("attempts", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_attempts_run_id"), ["run_id"], unique=False)

    if "test_results" not in existing:
        op.create_table(
            "test_results",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("evaluation_id", sa.Integer(), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=True),
            sa.Column("passed", sa.Boolean(), nullable=False),
            sa.ForeignKeyConstraint(
                ["evaluation_id"],
                ["evaluations.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("test_results", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_test_results_evaluation_id"), ["evaluation_id"], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_results_evaluation_id"))

    op.drop_table("test_results")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_run_id"))

    op.drop_table("attempts")
    op.drop_table("run_tasks")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_task_id"))

    op.drop_table("evaluations")
    with op.batch_alter_table("validations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validations_instance_id"))

    op.drop_table("validations")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_instance_id"))

    op.drop_table("tasks")
    op.drop_table("runs")
    with op.batch_alter_table("model_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_responses_model"))

    op.drop_table("model_responses")
