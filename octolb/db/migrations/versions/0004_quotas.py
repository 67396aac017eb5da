"""quotas: per-project limits (NULL = the configured default)

Revision ID: 0004
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

LIMITS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy",
          "l7rule")


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("project_id", sa.String(255), primary_key=True),
        *[sa.Column(name, sa.Integer(), nullable=True) for name in LIMITS],
    )


def downgrade() -> None:
    op.drop_table("quotas")
