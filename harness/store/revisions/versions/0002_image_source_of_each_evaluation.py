"""Image source of each evaluation (prebuilt or built, name, digest); old rows get "".

Revision ID: 0002
Revises: 0001
Created: 2026-12-02 13:56:47.083672
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        for name, length in (("image_source", 20), ("image_name", 500), ("image_digest", 300)):
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )



def downgrade() -> None:
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_column('image_digest')
        batch_op.drop_column('image_name')
        batch_op.drop_column('image_source')

