"""key manager: consumers registered through the API (secret and container consumers)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_manager_consumer",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("ref_kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36)),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("resource_type", sa.String(255)),
        sa.Column("resource_id", sa.String(255), nullable=False),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
        sa.UniqueConstraint("ref_kind", "ref_id", "identity",
                            name="uq_key_manager_consumer_identity"),
    )
    op.create_index("ix_key_manager_consumer_ref_id", "key_manager_consumer", ["ref_id"])


def downgrade() -> None:
    op.drop_index("ix_key_manager_consumer_ref_id", table_name="key_manager_consumer")
    op.drop_table("key_manager_consumer")
