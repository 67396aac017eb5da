"""amphora: the number of listeners in the last configuration it accepted (heartbeat check)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("amphora") as batch:
        batch.add_column(sa.Column("applied_listeners", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora") as batch:
        batch.drop_column("applied_listeners")
