"""counts_against of each test result: what grading decided, stored instead of derived again

Revision ID: 0007
Revises: 0006
Created: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Grading's rule when this revision was written (harness/evaluation/grading.py): a listed test
# counts against its candidate when absent, FAILED or ERROR, and a FAIL_TO_PASS one also when
# SKIPPED. Written out here so that the backfill does not change if the rule ever does.
_BACKFILL = """
UPDATE test_results SET counts_against = CASE
    WHEN kind = 'FAIL_TO_PASS'
        AND (status IS NULL OR status IN ('FAILED', 'ERROR', 'SKIPPED')) THEN 1
    WHEN kind = 'PASS_TO_PASS' AND (status IS NULL OR status IN ('FAILED', 'ERROR')) THEN 1
    ELSE 0 END
"""


def upgrade() -> None:
    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("counts_against", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    backfill = _BACKFILL
    if op.get_bind().dialect.name == "postgresql":
        backfill = backfill.replace("THEN 1", "THEN true").replace("ELSE 0", "ELSE false")
    op.execute(backfill)


def downgrade() -> None:
    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.drop_column("counts_against")
