"""failover retries: attempt counter and back-off deadline on the load balancer

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("load_balancer") as batch:
        batch.add_column(sa.Column("failover_attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("retry_not_before", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("load_balancer") as batch:
        batch.drop_column("retry_not_before")
        batch.drop_column("failover_attempts")
